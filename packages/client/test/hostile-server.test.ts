/**
 * Issue 9, client items, over real sockets on loopback: hostile servers (a reconnect storm, a ping
 * flood it never reads), refusals (401/403, wrong paths), a server that was down (auto), an
 * unserializable send and breakConnection(). Every wait is on an event; time that the client
 * schedules (backoff) runs on a ManualScheduler where a test counts attempts against it.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fullJitterBackoff, isChskError, type StatePair } from '@sente-rx/core';
import { type ChannelSocketClient, type ClientOptions, createChannelSocketClient, type FetchLike, type WebSocketLike } from '@sente-rx/client';
import { client, ManualScheduler, recordingLogger, useFixtures } from '@sente-rx/fixtures';
import { BehaviorSubject, filter, firstValueFrom, race, take, timeout } from 'rxjs';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { memoryStorage } from './contract-support.js';

const fx = useFixtures();

const HANDSHAKE = JSON.stringify([['chsk/handshake', ['h', null, true]], null]);
const PING = JSON.stringify(['chsk/ws-ping', null]);

/** A plain HTTP server on loopback, stopped after the test; `attempts` counts what `count` says is an attempt. */
async function listen(handler: http.RequestListener, port = 0): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  fx.track({
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
  return { server, port: (server.address() as AddressInfo).port };
}

function track(c: ChannelSocketClient): ChannelSocketClient {
  fx.track(c);
  return c;
}

const nextState = (c: ChannelSocketClient, pred: (s: StatePair[1]) => boolean, ms = 5_000): Promise<StatePair[1]> =>
  firstValueFrom(c.state$.pipe(filter(([, s]) => pred(s)), take(1), timeout(ms))).then(([, s]) => s);

/**
 * Item 6, over real sockets: the client's clock is a ManualScheduler; each time the client
 * schedules a retry, the test moves the clock to it. Counts the server's attempts until the
 * clock passes 8 s (or more than 20 attempts arrive, which is the storm).
 */
async function attemptsIn8s(c: ChannelSocketClient, scheduler: ManualScheduler, attempts: BehaviorSubject<number[]>): Promise<number[]> {
  let due = -1;
  for (;;) {
    const next = await firstValueFrom(
      race(
        c.state$.pipe(filter(([, s]) => s.udtNextReconnect !== undefined && s.udtNextReconnect > due)),
        attempts.pipe(filter((a) => a.length > 20)),
      ).pipe(take(1), timeout(10_000)),
    );
    if (typeof next[0] === 'number') break; // the storm: over 20 attempts, and no retry was ever scheduled
    due = (next as StatePair)[1].udtNextReconnect ?? due;
    if (due > 8_000) break;
    scheduler.advance(due - scheduler.now());
  }
  return attempts.value.filter((at) => at <= 8_000);
}

describe('reconnect storm against real hostile servers (item 6)', () => {
  it('ws: a server that completes the handshake and closes at once gets 5 attempts in 8 s (median jitter)', async () => {
    const scheduler = new ManualScheduler();
    const attempts = new BehaviorSubject<number[]>([]);
    const { server, port } = await listen(() => undefined);
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => {
      ws.on('error', () => undefined);
      attempts.next([...attempts.value, scheduler.now()]);
      ws.send(HANDSHAKE);
      ws.close(1000);
    });
    const c = track(client(port, { scheduler, backoffMs: fullJitterBackoff({ random: () => 0.5 }), wsKeepAliveMs: 0 }));
    const seen = await attemptsIn8s(c, scheduler, attempts);
    expect(seen.length).toBeLessThanOrEqual(6);
    expect(seen).toEqual([0, 0, 1_000, 3_000, 7_000]);
  });

  it('ajax: a server that answers the handshake and then 503s every poll gets 5 attempts in 8 s (median jitter)', async () => {
    const scheduler = new ManualScheduler();
    const attempts = new BehaviorSubject<number[]>([]);
    const { port } = await listen((req, res) => {
      if (new URL(req.url ?? '/', 'http://x').searchParams.has('handshake?')) {
        attempts.next([...attempts.value, scheduler.now()]);
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(HANDSHAKE);
      } else res.writeHead(503).end('shedding load');
    });
    const c = track(client(port, { type: 'ajax', scheduler, backoffMs: fullJitterBackoff({ random: () => 0.5 }) }));
    const seen = await attemptsIn8s(c, scheduler, attempts);
    expect(seen.length).toBeLessThanOrEqual(6);
    expect(seen).toEqual([0, 0, 1_000, 3_000, 7_000]);
    expect(c.state.lastAjaxError?.status).toBe(503);
  });
});

describe('401/403 (item 8), over real sockets', () => {
  it.each(['ws', 'ajax'] as const)('%s: a refused handshake (bad CSRF token: 403) stops the client; reconnect() with a fresh token opens', async (type) => {
    const srv = await fx.startServer({ csrfToken: () => 'right' });
    let token = 'stale';
    const c = track(client(srv.port, { type }, () => token));
    const stopped = await nextState(c, (s) => s.lastClose?.reason === 'unauthorized');
    expect(stopped.lastClose).toEqual({ udt: expect.any(Number), reason: 'unauthorized', status: 403 });
    expect(stopped.udtNextReconnect).toBeUndefined();
    token = 'right';
    const opened = nextState(c, (s) => s.open);
    c.reconnect();
    expect((await opened).type).toBe(type);
  });
});

describe('401/403 over a WebSocket that does not say why (a browser)', () => {
  /** `ws`, minus what browsers hide: the error's message (which names the upgrade's HTTP status). */
  class BrowserLikeWs implements WebSocketLike {
    readonly #ws: WebSocket;
    onopen: WebSocketLike['onopen'] = null;
    onmessage: WebSocketLike['onmessage'] = null;
    onerror: WebSocketLike['onerror'] = null;
    onclose: WebSocketLike['onclose'] = null;
    constructor(url: string) {
      this.#ws = new WebSocket(url);
      this.#ws.on('error', () => this.onerror?.({}));
      this.#ws.on('open', () => this.onopen?.({}));
      this.#ws.on('message', (data) => this.onmessage?.({ data: String(data) }));
      this.#ws.on('close', (code, reason) => this.onclose?.({ code, reason: String(reason), wasClean: code !== 1006 }));
    }
    get readyState(): number {
      return this.#ws.readyState;
    }
    get binaryType(): string {
      return this.#ws.binaryType;
    }
    set binaryType(t: string) {
      this.#ws.binaryType = t as WebSocket['binaryType'];
    }
    send(data: string | Uint8Array<ArrayBuffer>): void {
      this.#ws.send(data);
    }
    close(code?: number, reason?: string): void {
      this.#ws.close(code, reason);
    }
  }

  it('the client asks over HTTP (an empty POST: 403) and stops with lastClose unauthorized', async () => {
    const srv = await fx.startServer({ csrfToken: () => 'right' });
    const c = track(client(srv.port, { type: 'ws', WebSocket: BrowserLikeWs, wsRefusalProbe: true }, 'stale'));
    const stopped = await nextState(c, (s) => s.lastClose?.reason === 'unauthorized');
    expect(stopped.lastClose).toMatchObject({ reason: 'unauthorized', status: 403 });
    expect(stopped.lastWsError?.message).toBeUndefined(); // the socket itself said nothing
  });
});

describe('auto and a server that was down (item 9)', () => {
  it('connection refused on both transports is a down server: when it comes back, auto opens over WebSocket and remembers nothing', async () => {
    // A port nothing listens on (taken, then freed), where the server starts later.
    const probe = await listen(() => undefined);
    const port = probe.port;
    await new Promise<void>((r) => probe.server.close(() => r()));
    const tried: ('ws' | 'ajax')[] = [];
    const bothRefused = new BehaviorSubject(false);
    const fetchFn: FetchLike = (input, init) => {
      if (init?.method === 'POST') return fetch(input, init); // the WebSocket's refusal probe, not an Ajax attempt
      tried.push('ajax');
      return fetch(input, init).finally(() => bothRefused.next(tried.includes('ws')));
    };
    const storage = memoryStorage();
    const c = track(client(port, { type: 'auto', fetch: fetchFn, storage, backoffMs: () => 50 }));
    c.state$.subscribe(([, s]) => {
      if (s.lastWsError !== undefined && !tried.includes('ws')) tried.push('ws');
    });
    await firstValueFrom(bothRefused.pipe(filter(Boolean), take(1), timeout(5_000)));
    await fx.startServer({}, port);
    const opened = await nextState(c, (s) => s.open);
    expect(opened.type).toBe('ws');
    expect([...storage.map.values()]).not.toContain('ajax');
  });
});

describe('an unserializable value fails only that send (item 10)', () => {
  it.each(['ws', 'ajax'] as const)('%s: chsk/error with the packer error as cause; the channel and other requests live on', async (type) => {
    const srv = await fx.startServer();
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const c = track(client(srv.port, { type }));
    await firstValueFrom(c.state$.pipe(filter(([, s]) => s.open), take(1), timeout(5_000)));
    const closes: unknown[] = [];
    c.state$.subscribe(([, s]) => s.closed === true && closes.push(s.lastClose));
    const pending = firstValueFrom(c.send(['test/echo', 'other'], { timeoutMs: 3_000 }));
    for (const opts of [{ timeoutMs: 3_000 }, undefined]) {
      const err: unknown = await firstValueFrom(c.send(['m/x', 10n], opts)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isChskError(err, 'chsk/error')).toBe(true);
      expect((err as Error).cause).toBeInstanceOf(TypeError); // JSON.stringify's BigInt error
      expect(String((err as Error & { cause: Error }).cause.message)).toMatch(/BigInt/);
    }
    await expect(pending).resolves.toBe('other');
    await expect(firstValueFrom(c.send(['test/echo', 'after'], { timeoutMs: 3_000 }))).resolves.toBe('after');
    expect(closes).toEqual([]);
    expect(c.state.open).toBe(true);
  });
});

describe('the client bounds what it buffers for the server (item 11)', () => {
  it('ws: a ping flood from a server that never reads closes with send-buffer-full, and the client reconnects by the backoff', async () => {
    const { server, port } = await listen(() => undefined);
    const wss = new WebSocketServer({ server });
    let connections = 0;
    wss.on('connection', (ws) => {
      ws.on('error', () => undefined);
      ws.send(HANDSHAKE);
      if (++connections > 1) return; // only the first connection is flooded
      (ws as unknown as { _socket: Socket })._socket.pause(); // never read what the client sends
      // Bounded: at most 400k pings, in chunks, until the socket goes away.
      let sent = 0;
      const flood = (): void => {
        if (ws.readyState !== ws.OPEN || sent >= 400_000) return;
        for (let i = 0; i < 2_000; i++) ws.send(PING);
        sent += 2_000;
        setImmediate(flood);
      };
      flood();
    });
    const logger = recordingLogger();
    const c = track(client(port, { maxBufferedBytes: 64 * 1024, wsKeepAliveMs: 0, logger }));
    const closed = await nextState(c, (s) => s.closed === true, 20_000);
    expect(closed.lastClose?.reason).toBe('send-buffer-full');
    expect(closed.lastWsClose).toMatchObject({ code: 1006, clean: false });
    expect(logger.entries.some((e) => e.level === 'warn' && /does not read/.test(e.msg))).toBe(true);
    expect((await nextState(c, (s) => s.open)).type).toBe('ws');
    expect(connections).toBe(2);
  });

  it('ajax: POST bodies in flight past maxBufferedBytes close with send-buffer-full', async () => {
    const srv = await fx.startServer();
    // POSTs that never get an answer (until aborted): a server that does not keep up.
    const fetchFn: FetchLike = (input, init) =>
      init?.method === 'POST'
        ? new Promise<Response>((_, reject) => init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))))
        : fetch(input, init);
    const c = track(client(srv.port, { type: 'ajax', fetch: fetchFn, maxBufferedBytes: 1_000 }));
    await nextState(c, (s) => s.open);
    const outcomes: unknown[] = [];
    const closing = nextState(c, (s) => s.closed === true);
    for (let i = 0; i < 10; i++) c.send(['test/big', 'x'.repeat(200)], { timeoutMs: 10_000 }).subscribe({ error: (e: unknown) => outcomes.push(e) });
    const closed = await closing;
    expect(closed.lastAjaxError).toBeUndefined(); // no Ajax request failed
    expect(closed.lastClose?.reason).toBe('send-buffer-full');
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.every((e) => isChskError(e, 'chsk/closed'))).toBe(true);
  });
});

describe('failures are visible (item 12)', () => {
  it('ajax on a wrong path: lastAjaxError { udt, status: 404 }, warned once however often it retries', async () => {
    const srv = await fx.startServer();
    const logger = recordingLogger();
    let gets = 0;
    const manyTries = new BehaviorSubject(0);
    const fetchFn: FetchLike = (input, init) => fetch(input, init).finally(() => manyTries.next(++gets));
    const c = track(createChannelSocket(srv.port, '/wrong', { type: 'ajax', fetch: fetchFn, logger, backoffMs: () => 5 }));
    await firstValueFrom(manyTries.pipe(filter((n) => n >= 4), take(1), timeout(5_000)));
    expect(c.state.lastAjaxError).toEqual({ udt: expect.any(Number), status: 404 });
    expect(logger.entries.filter((e) => e.level === 'warn' && /could not connect over Ajax \(HTTP 404\)/.test(e.msg))).toHaveLength(1);
  });

  it('ws on an unknown path (an upgrade nobody answers): warned once however often it retries', async () => {
    const { server, port } = await listen(() => undefined);
    const held: Socket[] = [];
    server.on('upgrade', (_req, socket: Socket) => void held.push(socket));
    fx.track({ close: () => held.forEach((s) => s.destroy()) });
    const logger = recordingLogger();
    const c = track(createChannelSocket(port, '/wrong', { type: 'ws', logger, backoffMs: () => 5, wsConnectTimeoutMs: 100 }));
    let errors = 0;
    await firstValueFrom(c.state$.pipe(filter(([o, s]) => s.lastWsClose !== o.lastWsClose && ++errors >= 3), take(1), timeout(10_000)));
    expect(logger.entries.filter((e) => e.level === 'warn' && /could not connect over WebSocket/.test(e.msg))).toHaveLength(1);
  });
});

describe('breakConnection() looks like a network failure (item 13)', () => {
  it('ws: lastWsClose 1006, not clean; lastClose unexpected; then it reconnects', async () => {
    const srv = await fx.startServer();
    const c = track(client(srv.port, { type: 'ws' }));
    await nextState(c, (s) => s.open);
    const closed = nextState(c, (s) => s.closed === true);
    c.breakConnection();
    const s = await closed;
    expect(s.lastWsClose).toMatchObject({ code: 1006, clean: false });
    expect(s.lastClose?.reason).toBe('unexpected');
    await nextState(c, (x) => x.open);
  });
});

/** What the fixtures' `client()` makes, on another path. */
function createChannelSocket(port: number, path: string, opts: ClientOptions): ChannelSocketClient {
  return createChannelSocketClient(path, null, {
    host: '127.0.0.1',
    port,
    protocol: 'http:',
    WebSocket: WebSocket as unknown as ClientOptions['WebSocket'],
    storage: null,
    ...opts,
  });
}
