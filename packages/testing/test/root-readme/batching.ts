/** The root README's "Batching" snippet, type-checked with the repository (root-readme.test.ts keeps the copies equal). */
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { events } from './events.js';

// #region readme
const server = createChannelSocketServer(nodeAdapter(), {
  events,
  batching: 'adaptive',                // the default; 'window' is Sente's fixed window
  sendBufMs: { ws: 30, ajax: 100 },    // the defaults; 0 sends every push at once
  maxBatchEvents: 1_000,               // the default: a batch this big leaves at once
});
server.send('alice', ['chat/msg', { id: 1, from: 'bob', text: 'now' }], { flush: true }); // past the batching
// #endregion readme
