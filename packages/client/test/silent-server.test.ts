/** Client keep-alive over real sockets: a server that stops answering is detected by the ping timeout. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { filter, firstValueFrom, take, timeout } from 'rxjs';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { client, whenOpen } from '../../server/test/support.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** A peer that completes the handshake and then never says another word (a dead path). */
async function silentServer(): Promise<{ port: number; sockets: WsSocket[]; connections: () => number }> {
  const httpServer = http.createServer();
  const wss = new WebSocketServer({ server: httpServer });
  const sockets: WsSocket[] = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('error', () => undefined);
    ws.send(JSON.stringify([['chsk/handshake', ['quiet', null, true]], null]));
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  cleanup = async () => {
    for (const s of sockets) s.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await new Promise<void>((r) => httpServer.close(() => r()));
  };
  return { port: (httpServer.address() as AddressInfo).port, sockets, connections: () => sockets.length };
}

it('a silent server: the client pings after wsKeepAliveMs/2 of silence and reconnects with ws-ping-timeout', async () => {
  const srv = await silentServer();
  const c = client(srv.port, { wsKeepAliveMs: 200, wsPingTimeoutMs: 150 });
  const closeServer = cleanup;
  cleanup = async () => {
    c.close();
    await closeServer?.();
  };
  await whenOpen(c);
  const t0 = performance.now();
  const [, closed] = await firstValueFrom(c.state$.pipe(filter(([, s]) => s.closed === true), take(1), timeout(3_000)));
  const elapsed = performance.now() - t0;
  expect(closed.lastClose?.reason).toBe('ws-ping-timeout');
  // one silent interval (100 ms) or two (the first tick may come just after the handshake), plus the ping timeout
  expect(elapsed).toBeGreaterThanOrEqual(240);
  expect(elapsed).toBeLessThan(1_500);
  // the client sent its ping on the dead socket, and then came back on a new one
  await whenOpen(c);
  expect(srv.connections()).toBe(2);
});
