/** The root README's "Routers" snippet, type-checked with the repository (root-readme.test.ts keeps the copies equal). */
import { createChannelSocketClient, startClientChskRouter } from '@sente-rx/client';
import { createChannelSocketServer, startServerChskRouter } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { events } from './events.js';

declare const pageToken: string;
declare function saveMessage(uid: string, text: string): Promise<number>;
declare function render(from: string, text: string): void;
const server = createChannelSocketServer(nodeAdapter(), { events });
const chsk = createChannelSocketClient('/chsk', pageToken, { events });

// #region readme
// server: what a handler returns (a value, a Promise, an Observable's first value) is the reply
const router = startServerChskRouter(server.recv$, {
  'chat/post': async (msg) => {
    const id = await saveMessage(msg.uid, msg.data.text);  // a rejection → errorHandler; the client gets chsk/error
    server.broadcast(['chat/msg', { id, from: msg.uid, text: msg.data.text }]);
    return { id };                                         // type-checked against the reply schema
  },
  default: (msg) => console.debug('no handler for', msg.id), // chsk/uidport-open, chat/typing, …
}, { errorHandler: (err, msg) => console.error(`${msg.id} from ${msg.uid} failed`, err) });

// client: pushes and the server's requests; the return value answers a request
startClientChskRouter(chsk.recv$, {
  'chat/msg': (msg) => render(msg.data.from, msg.data.text),
  'app/confirm': (msg) => window.confirm(msg.data.question),  // boolean, as the contract says
});
router.unsubscribe();                                      // stops the server's router
// #endregion readme
