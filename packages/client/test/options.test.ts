/** Options the contract suite does not exercise: URL building, wrapRecvEvs, wsConnectTimeoutMs, flush ordering, maxPendingEvents, trustProxy. */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { createChannelSocketServer, SKIP_CSRF_CHECK } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { filter, firstValueFrom, take, timeout, toArray } from 'rxjs';
import { createChannelSocketClient, type ChannelSocketClient, type ClientOptions, type WebSocketLike } from '@sente-rx/client';
import { client, nextEvent, startServer, type TestServer, whenOpen } from '@sente-rx/fixtures';
import { capturingLogger, memoryStorage } from './contract-support.js';

const clients: ChannelSocketClient[] = [];
const servers: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});
const track = <T extends ChannelSocketClient>(c: T): T => (clients.push(c), c);
async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

/** A WebSocket constructor that records the URLs it is given and never connects. */
function urlRecorder(urls: string[]): ClientOptions['WebSocket'] {
  return class {
    readyState = 0;
    binaryType = '';
    onopen = null;
    onmessage = null;
    onerror = null;
    onclose = null;
    constructor(url: string) {
      urls.push(url);
    }
    send(): void {}
    close(): void {}
  } as unknown as new (url: string) => WebSocketLike;
}

describe('URLs', () => {
  it('https becomes wss; the library keys (client-id, csrf-token) win over params of the same name', () => {
    const urls: string[] = [];
    track(
      createChannelSocketClient('/chsk', () => 'tok en', {
        type: 'ws',
        protocol: 'https',
        host: 'example.test',
        port: 8443,
        params: { room: 'a b', 'client-id': 'spoofed', n: 3 },
        clientId: 'me',
        WebSocket: urlRecorder(urls),
        storage: null,
      }),
    );
    expect(urls).toHaveLength(1);
    const u = new URL(urls[0]!);
    expect(u.protocol).toBe('wss:');
    expect(u.host).toBe('example.test:8443');
    expect(u.pathname).toBe('/chsk');
    expect(u.searchParams.get('room')).toBe('a b');
    expect(u.searchParams.get('n')).toBe('3');
    expect(u.searchParams.getAll('client-id')).toEqual(['me']);
    expect(u.searchParams.get('csrf-token')).toBe('tok en');
  });

  it('refuses a protocol other than http(s), and a missing host outside a page', () => {
    expect(() => createChannelSocketClient('/chsk', null, { type: 'ws', protocol: 'ftp' as 'http', host: 'x', WebSocket: urlRecorder([]) })).toThrow(TypeError);
    expect(() => createChannelSocketClient('/chsk', null, { type: 'ws', WebSocket: urlRecorder([]) })).toThrow(/host/);
    expect(() => createChannelSocketClient('/chsk', null, { type: 'ws', host: 'x' })).toThrow(/WebSocket/);
  });
});

describe('wrapRecvEvs', () => {
  it('delivers pushes as [chsk/recv, event] when set, unwrapped otherwise', async () => {
    const srv = await server();
    const wrapped = track(client(srv.port, { uid: 'w', wrapRecvEvs: true }));
    const plain = track(client(srv.port, { uid: 'w' }));
    await Promise.all([whenOpen(wrapped), whenOpen(plain)]);
    const got = nextEvent(wrapped, 'chsk/recv');
    const gotPlain = nextEvent(plain, 'test/push');
    srv.chsk.send('w', ['test/push', 1]);
    expect((await got).data).toEqual(['test/push', 1]);
    expect((await gotPlain).event).toEqual(['test/push', 1]);
  });
});

describe('wsConnectTimeoutMs', () => {
  it('auto gives up a WebSocket upgrade that is never answered and falls back to Ajax', async () => {
    const srv = await server();
    // Swallow the upgrade: no answer, no close (a proxy that eats it).
    srv.server.removeAllListeners('upgrade');
    const held: Duplex[] = [];
    srv.server.on('upgrade', (_req, socket: Duplex) => held.push(socket));
    const storage = memoryStorage();
    const c = track(client(srv.port, { uid: 'slow', type: 'auto', wsConnectTimeoutMs: 300, storage }));
    await whenOpen(c, 5_000);
    expect(c.state.type).toBe('ajax');
    // Given up by the timer, not by anything the server did (the timing: marble.test.ts, virtual time).
    expect(c.state.lastWsError?.message).toBe('connect timeout');
    expect(held.length).toBe(1);
    expect([...storage.map.values()]).toEqual(['ajax']);
    for (const s of held) s.destroy();
  });
});

describe('server send buffers', () => {
  it('flush: true sends the buffered events first, then this one, at once', async () => {
    const srv = await server({ batching: 'window', sendBufMs: { ws: 5_000, ajax: 5_000 } });
    const c = track(client(srv.port, { uid: 'f' }));
    await whenOpen(c);
    const got = firstValueFrom(c.recv$.pipe(filter((m) => m.id.startsWith('test/')), take(3), toArray(), timeout(2_000)));
    srv.chsk.send('f', ['test/a', 1]);
    srv.chsk.send('f', ['test/b', 2]);
    srv.chsk.send('f', ['test/c', 3], { flush: true });
    expect((await got).map((m) => m.id)).toEqual(['test/a', 'test/b', 'test/c']);
  });

  it('maxPendingEvents: an Ajax client between polls keeps only the newest events, and the drop is logged', async () => {
    const logger = capturingLogger();
    const srv = await server({ maxPendingEvents: 5, sendBufMs: { ws: 0, ajax: 0 }, logger, reconnectGraceMs: { ws: 2_000, ajax: 5_000 } });
    // Hold back the client's re-polls so pushes land between polls.
    let release: () => void = () => undefined;
    let holding = false;
    const gatedFetch: typeof fetch = async (input, init) => {
      if (holding && (init?.method ?? 'GET') === 'GET') await new Promise<void>((r) => (release = r));
      return fetch(input, init);
    };
    const c = track(client(srv.port, { uid: 'p', type: 'ajax', fetch: gatedFetch }));
    await whenOpen(c);
    // Wait until the server holds a poll, then answer it with one push and hold the next poll.
    const first = nextEvent(c, 'test/n');
    holding = true;
    srv.chsk.send('p', ['test/n', -1]);
    expect((await first).data).toBe(-1);
    for (let i = 0; i < 12; i++) srv.chsk.send('p', ['test/n', i]);
    const rest = firstValueFrom(c.recv$.pipe(filter((m) => m.id === 'test/n'), take(5), toArray(), timeout(3_000)));
    holding = false;
    release();
    expect((await rest).map((m) => m.data)).toEqual([7, 8, 9, 10, 11]);
    const drops: unknown[] = [];
    logger.entries$.pipe(filter((e) => e.level === 'warn' && /maxPendingEvents/.test(e.msg))).subscribe((e) => drops.push(e.data?.dropped));
    expect(drops.reduce((a: number, b) => a + Number(b), 0)).toBe(7);
  });
});

describe('trustProxy', () => {
  it('request.remoteAddress comes from X-Forwarded-For only when trusted', async () => {
    const addresses: (string | undefined)[] = [];
    for (const trustProxy of [true, false]) {
      const chsk = createChannelSocketServer(nodeAdapter({ trustProxy }), { csrfToken: () => SKIP_CSRF_CHECK });
      chsk.recv$.subscribe((m) => m.id === 'test/who' && addresses.push(m.request.remoteAddress));
      const httpServer = http.createServer((req, res) => chsk.ajaxPost(req, res));
      await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
      const port = (httpServer.address() as AddressInfo).port;
      const res = await fetch(`http://127.0.0.1:${port}/chsk?client-id=x`, {
        method: 'POST',
        headers: { 'X-Forwarded-For': '203.0.113.7, 10.0.0.1' },
        body: JSON.stringify([['test/who'], null]),
      });
      expect(res.status).toBe(200);
      await chsk.close();
      await new Promise<void>((r) => httpServer.close(() => r()));
    }
    expect(addresses[0]).toBe('203.0.113.7');
    expect(addresses[1]).toMatch(/127\.0\.0\.1/);
  });
});
