// Raw `ws` baseline server: the least a user-targeted push and an id-correlated echo need on top
// of `ws`: a uid from the query, a uid -> sockets map, JSON frames, and a hello frame on open so
// a "handshake" means the same application round trip as in the other two.

import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { listen, runServer, type BenchServer } from '../server-harness.js';

await runServer(async (): Promise<BenchServer> => {
  const httpServer = http.createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const wss = new WebSocketServer({ server: httpServer, path: '/ws' });
  const byUid = new Map<string, Set<WebSocket>>();
  let replies = 0;

  wss.on('error', () => {});
  wss.on('connection', (socket, req) => {
    const uid = new URL(req.url ?? '/', 'http://x').searchParams.get('uid') ?? '';
    let sockets = byUid.get(uid);
    if (!sockets) byUid.set(uid, (sockets = new Set()));
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0 && byUid.get(uid) === sockets) byUid.delete(uid);
    });
    socket.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id: number; d: unknown };
      socket.send(JSON.stringify({ id: msg.id, d: msg.d }));
      replies += 1;
    });
    socket.send(JSON.stringify({ hello: uid }));
  });

  const port = await listen(httpServer);

  return {
    port,
    repliesSent: () => replies,
    push(uid, payload) {
      const sockets = byUid.get(uid);
      if (!sockets) return;
      const frame = JSON.stringify({ p: payload });
      for (const s of sockets) s.send(frame);
    },
    async close() {
      for (const s of wss.clients) s.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
});
