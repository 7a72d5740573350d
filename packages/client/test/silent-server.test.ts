/** Client keep-alive over real sockets: a server that stops answering is detected by the ping timeout. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { filter, firstValueFrom, ReplaySubject, take, timeout } from 'rxjs';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { client, whenOpen } from '@sente-rx/fixtures';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** A peer that completes the handshake and then never says another word (a dead path). */
async function silentServer(): Promise<{ port: number; sockets: WsSocket[]; connections: () => number; received: ReplaySubject<{ socket: number; msg: unknown }> }> {
  const httpServer = http.createServer();
  const wss = new WebSocketServer({ server: httpServer });
  const sockets: WsSocket[] = [];
  const received = new ReplaySubject<{ socket: number; msg: unknown }>();
  wss.on('connection', (ws) => {
    const socket = sockets.push(ws) - 1;
    ws.on('error', () => undefined);
    ws.on('message', (data) => received.next({ socket, msg: JSON.parse(String(data)) as unknown }));
    ws.send(JSON.stringify([['chsk/handshake', ['quiet', null, null, true]], null]));
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  cleanup = async () => {
    for (const s of sockets) s.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await new Promise<void>((r) => httpServer.close(() => r()));
  };
  return { port: (httpServer.address() as AddressInfo).port, sockets, connections: () => sockets.length, received };
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
  const [, closed] = await firstValueFrom(c.state$.pipe(filter(([, s]) => s.closed === true), take(1), timeout(3_000)));
  expect(closed.lastClose?.reason).toBe('ws-ping-timeout');
  // The client sent its ping on the dead socket (when: the marble tests pin the times in virtual
  // time), and then came back on a new one.
  const ping = await firstValueFrom(srv.received.pipe(filter((r) => r.socket === 0), take(1), timeout(3_000)));
  expect(ping.msg).toEqual([['chsk/ws-ping'], expect.any(String)]);
  await whenOpen(c);
  expect(srv.connections()).toBe(2);
});
