/** The root README's addressing and server→client request snippet, type-checked with the repository (root-readme.test.ts keeps the copies equal). */
import { createChannelSocketClient } from '@sente-rx/client';
import { isChskError } from '@sente-rx/core';
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { defer, retry } from 'rxjs';
import { events } from './events.js';

declare const pageToken: string;
declare const clientId: string;
const server = createChannelSocketServer(nodeAdapter(), { events });
const chsk = createChannelSocketClient('/chsk', pageToken, { events });
const msg = { id: 7, from: 'bob', text: 'hi' };

// #region readme
server.send('alice', ['chat/msg', msg]);                   // every client (tab, device) of alice
server.send({ uid: 'alice', clientId }, ['chat/msg', msg]); // one tab: clientId from any of its msgs (msg.clientId)
server.broadcast(['chat/msg', msg]);                       // every connected client, anonymous ones too

// ask one tab; the client answers through msg.reply or its router
server.request({ uid: 'alice', clientId }, ['app/confirm', { question: 'Leave the room?' }], { timeoutMs: 10_000 })
  .subscribe({
    next: (yes) => console.log(yes ? 'leaving' : 'staying'),  // yes: boolean
    error: (e: unknown) => console.warn(isChskError(e) ? e.code : e), // 'chsk/timeout' | 'chsk/closed' | 'chsk/error'
  });

// send is eager (it sent already); defer it to send again on each retry
defer(() => chsk.send(['chat/post', { room: 'lobby', text: 'hi' }], { timeoutMs: 5_000 }))
  .pipe(retry(2))
  .subscribe((reply) => console.log(reply.id));
// #endregion readme
