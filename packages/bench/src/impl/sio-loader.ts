// Load generator for Socket.IO: socket.io-client as its users run it (`forceNew`, so each client
// has its own engine connection instead of being multiplexed), websocket-only or polling-only.

import { io } from 'socket.io-client';
import { runLoader, type BenchClient } from '../loader-harness.js';
import type { PushPayload } from '../types.js';

await runLoader(({ port, uid, transport, onPush }) => {
  return new Promise<BenchClient>((resolve, reject) => {
    const socket = io(`http://127.0.0.1:${port}`, {
      transports: [transport === 'ws' ? 'websocket' : 'polling'],
      query: { uid },
      forceNew: true,
      reconnection: false,
      timeout: 30_000, // 30 s
    });
    socket.on('push', (payload: PushPayload) => onPush(payload));
    socket.once('connect_error', (err) => reject(err));
    socket.once('connect', () =>
      resolve({
        request(payload, done) {
          socket.emitWithAck('echo', payload).then(
            (reply: unknown) => done(null, reply),
            (err: unknown) => done(err),
          );
        },
        close: () => socket.disconnect(),
      }),
    );
  });
});
