/** The root README's "Typed events" snippet, type-checked with the repository (root-readme.test.ts keeps the copies equal). */
import type { IncomingMessage } from 'node:http';
import { createChannelSocketClient } from '@sente-rx/client';
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { events } from './events.js';

declare const userId: (req: IncomingMessage) => string | undefined;
declare const csrfToken: (req: IncomingMessage) => string | undefined;
declare const pageToken: string;

// #region readme
// server
const server = createChannelSocketServer(nodeAdapter(), { events, userId, csrfToken });
server.recv$.subscribe((msg) => {
  if (msg.id === 'chat/post') msg.reply?.({ id: 1 });      // msg.data: { room: string; text: string }
});
server.send('alice', ['chat/msg', { id: 1, from: 'bob', text: 'hi' }]);

// client
const chsk = createChannelSocketClient('/chsk', pageToken, { events });
chsk.recv$.subscribe((m) => {
  if (m.id === 'chat/msg') console.log(m.data.from, m.data.text);   // narrowed by id
  if (m.id === 'chsk/state') console.log(m.data[1].open);           // reserved events are typed too
});
chsk.send(['chat/post', { room: 'lobby', text: 'hi' }], { timeoutMs: 8_000 })
  .subscribe((reply) => console.log(reply.id));                     // reply: { id: number }
// @ts-expect-error: the contract has no 'chat/pots'
chsk.send(['chat/pots', { room: 'lobby', text: 'hi' }]);
// @ts-expect-error: text must be a string
chsk.send(['chat/typing', { room: 42 }]);
// #endregion readme
