// Socket.IO server as its users run it: one room per uid (`socket.join(uid)`), `io.to(uid).emit`
// for pushes, an acknowledgement callback for request/reply. Both transports stay enabled.

import http from 'node:http';
import { Server } from 'socket.io';
import { listen, runServer, type BenchServer } from '../server-harness.js';

await runServer(async (config): Promise<BenchServer> => {
  const httpServer = http.createServer();
  // The presence scenario turns heartbeats off (an hour apart: engine.io has no "never"), as for sente-rx.
  const keepAlive = config.options?.['keepAlive'] !== false;
  const io = new Server(httpServer, { serveClient: false, ...(keepAlive ? {} : { pingInterval: 3_600_000 }) }); // 1 h
  let replies = 0;

  io.on('connection', (socket) => {
    const uid = socket.handshake.query['uid'];
    void socket.join(typeof uid === 'string' ? uid : '');
    socket.on('echo', (data: unknown, ack: unknown) => {
      if (typeof ack === 'function') {
        (ack as (d: unknown) => void)(data);
        replies += 1;
      }
    });
  });

  const port = await listen(httpServer);

  return {
    port,
    repliesSent: () => replies,
    push(uid, payload) {
      io.to(uid).emit('push', payload);
    },
    async close() {
      io.disconnectSockets(true);
      await io.close();
    },
  };
});
