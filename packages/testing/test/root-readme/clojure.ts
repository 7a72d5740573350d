/** The root README's "Talking to Clojure Sente" snippet, type-checked with the repository (root-readme.test.ts keeps the copies equal). */
import type { IncomingMessage } from 'node:http';
import { createChannelSocketClient } from '@sente-rx/client';
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';

declare const userId: (req: IncomingMessage) => string | undefined;
declare const csrfToken: ((req: IncomingMessage) => string | undefined) & (() => string);

// #region readme
// a sente-rx server for ClojureScript Sente clients
import { ednPacker } from '@sente-rx/packers/edn';
const chsk = createChannelSocketServer(nodeAdapter(), { packer: ednPacker, userId, csrfToken });

// a sente-rx client (browser or Node) for a Clojure Sente server
const c = createChannelSocketClient('/chsk', csrfToken, { packer: ednPacker });
// #endregion readme
export { chsk, c };
