/**
 * Helpers for the client contract tests, on top of @sente-rx/fixtures: recording a
 * client's state pairs and events, logging what reaches the HTTP server, servers with custom
 * upgrade handling or Express in front, an in-memory Storage, and bounded "nothing happens" checks.
 */
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Logger, SKIP_CSRF_CHECK, type StatePair } from '@sente-rx/core';
import type { ChannelSocketClient, ClientEventMsg } from '@sente-rx/client';
import { createChannelSocketServer, type ServerEventMsg, type ServerOptions } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import express from 'express';
import { filter, firstValueFrom, map, type Observable, race, ReplaySubject, skip, take, timeout, timer } from 'rxjs';
import { uidFromQuery } from '@sente-rx/fixtures';

/**
 * Marks a promise as handled and returns it: tests create waits before the action that triggers
 * them, and a wait left behind by a failed assertion must not surface as an unhandled rejection.
 */
export function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

// ---- recording a client -------------------------------------------------------------------------

export interface Recording {
  /** Every `[old, new]` pair published after the client was created (the replayed initial pair excluded). */
  readonly states: StatePair[];
  /** Every recv$ event, replayed to late subscribers. */
  readonly events: ReplaySubject<ClientEventMsg>;
  /** The data of every event with this id, in order. */
  data(id: string): unknown[];
  /** Waits for the next state pair (after now) that matches. */
  nextState(pred: (p: StatePair) => boolean, ms?: number): Promise<StatePair>;
}

/** Call right after creating the client: recv$ is hot, and the first events arrive asynchronously. */
export function record(c: ChannelSocketClient): Recording {
  const states: StatePair[] = [];
  const all: ClientEventMsg[] = [];
  const events = new ReplaySubject<ClientEventMsg>();
  c.state$.pipe(skip(1)).subscribe((p) => states.push(p));
  c.recv$.subscribe((m) => {
    all.push(m);
    events.next(m);
  });
  return {
    states,
    events,
    data: (id) => all.filter((m) => m.id === id).map((m) => m.data),
    nextState: (pred, ms = 5_000) => handled(firstValueFrom(c.state$.pipe(skip(1), filter(pred), take(1), timeout(ms)))),
  };
}

/** Resolves when the next matching event arrives on `c.recv$` (not replayed). */
export function waitFor(events: Observable<ClientEventMsg>, id: string, pred: (m: ClientEventMsg) => boolean = () => true, ms = 5_000): Promise<ClientEventMsg> {
  return handled(firstValueFrom(events.pipe(filter((m) => m.id === id && pred(m)), take(1), timeout(ms))));
}

/**
 * A bounded absence check: resolves with the first emission of `src` within `ms`, or `undefined`
 * when nothing came. Only for asserting that something does NOT happen (there is no event to await).
 */
export function within<T>(src: Observable<T>, ms: number): Promise<T | undefined> {
  return firstValueFrom(race(src.pipe(take(1)), timer(ms).pipe(map((): undefined => undefined))));
}

/** The value a replaying Observable (BehaviorSubject-like) holds now, read by subscribing. */
export function current<T>(src: Observable<T>): T {
  let v: { value: T } | undefined;
  src.pipe(take(1)).subscribe((x) => (v = { value: x }));
  if (v === undefined) throw new Error('current(): the Observable did not replay a value');
  return v.value;
}

// ---- a logger that can be awaited ---------------------------------------------------------------

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly data: Record<string, unknown> | undefined;
}

export function capturingLogger(): Logger & { readonly entries$: ReplaySubject<LogEntry> } {
  const entries$ = new ReplaySubject<LogEntry>();
  const at =
    (level: LogEntry['level']) =>
    (msg: string, data?: Record<string, unknown>): void =>
      entries$.next({ level, msg, data });
  return { entries$, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

// ---- what reaches the HTTP server ---------------------------------------------------------------

export interface HttpHit {
  readonly kind: 'request' | 'upgrade';
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly clientId: string | null;
  /** A long-poll GET (not a handshake request). */
  readonly poll: boolean;
  /** performance.now() when the server saw it. */
  readonly at: number;
}

/**
 * Logs every request and upgrade the server sees. Listeners added here run after the ones the
 * server already has, so a logged poll is already held by the channel socket server.
 * `upgrades: false` adds no 'upgrade' listener: with none, Node hands upgrade requests to the
 * request handler, and adding one would change that (the request would then hang unanswered).
 * A WebSocket attempt is logged with kind 'upgrade' either way.
 */
/** What httpLog (and a test) listens to: an http.Server, or the servers of every node of a cluster. */
export interface HttpEventSource {
  on(event: 'request', listener: (req: IncomingMessage, res: http.ServerResponse) => void): unknown;
  on(event: 'upgrade', listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
}

export function httpLog(server: HttpEventSource, { upgrades = true }: { upgrades?: boolean } = {}): ReplaySubject<HttpHit> & { hits: HttpHit[] } {
  const log = Object.assign(new ReplaySubject<HttpHit>(), { hits: [] as HttpHit[] });
  const hit = (kind: HttpHit['kind'], req: IncomingMessage): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const h: HttpHit = {
      kind: (req.headers.upgrade ?? '').toLowerCase() === 'websocket' ? 'upgrade' : kind,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      clientId: url.searchParams.get('client-id'),
      poll: kind === 'request' && req.method === 'GET' && !url.searchParams.has('handshake?') && req.headers.upgrade === undefined,
      at: performance.now(),
    };
    log.hits.push(h);
    log.next(h);
  };
  server.on('request', (req: IncomingMessage) => hit('request', req));
  if (upgrades) server.on('upgrade', (req: IncomingMessage) => hit('upgrade', req));
  return log;
}

/** Resolves when `n` hits matching `pred` have been logged (counting earlier ones). */
export function hits(log: Observable<HttpHit>, n: number, pred: (h: HttpHit) => boolean, ms = 5_000): Promise<void> {
  return handled(firstValueFrom(log.pipe(filter(pred), skip(n - 1), take(1), timeout(ms))).then(() => undefined));
}

// ---- servers with custom hosting ----------------------------------------------------------------

export type UpgradeMode =
  /** `chsk.attach(server)`: sente-rx handles upgrades on /chsk. */
  | 'attach'
  /** No upgrade listener at all: Node hands the upgrade request to the request handler. */
  | 'none'
  /** An upgrade listener that answers every upgrade with a plain HTTP 500. */
  | 'http-500'
  /** Upgrades go to sente-rx; the test can destroy the upgraded sockets with `killSockets()`. */
  | 'killable';

export interface CustomServerOptions {
  readonly upgrade?: UpgradeMode;
  /** Host the Ajax handlers in an Express 5 app instead of a plain request listener. */
  readonly express?: boolean;
  /** With `express`: put `express.text()` in front (sente-rx must accept a parsed string body). */
  readonly expressTextParser?: boolean;
}

export type CustomServer = Awaited<ReturnType<typeof startCustomServer>>;

/** Like support.ts's startServer, with a choice of hosting; `log` records what reaches the HTTP server. */
export async function startCustomServer(options: ServerOptions<IncomingMessage> = {}, custom: CustomServerOptions = {}, port = 0) {
  const chsk = createChannelSocketServer(nodeAdapter(), { userId: uidFromQuery, csrfToken: () => SKIP_CSRF_CHECK, ...options });
  const received = new ReplaySubject<ServerEventMsg>();
  chsk.recv$.subscribe(received);
  let server: http.Server;
  if (custom.express === true) {
    const app = express();
    if (custom.expressTextParser === true) app.use(express.text({ type: 'text/plain' }));
    app.get('/chsk', chsk.ajaxGetOrWsHandshake);
    app.post('/chsk', chsk.ajaxPost);
    app.use((_req, res) => {
      res.status(404).end();
    });
    server = http.createServer(app);
  } else {
    server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/chsk') return req.method === 'POST' ? chsk.ajaxPost(req, res) : chsk.ajaxGetOrWsHandshake(req, res);
      res.writeHead(404).end();
    });
  }
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const upgraded = new Set<Duplex>();
  const mode = custom.upgrade ?? 'attach';
  if (mode === 'attach') chsk.attach(server, { path: '/chsk' });
  else if (mode === 'http-500') {
    server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => undefined);
      const body = 'Internal Server Error';
      socket.end(`HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
  } else if (mode === 'killable') {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
      chsk.handleUpgrade(req, socket, head);
    });
  }
  const log = httpLog(server, { upgrades: mode !== 'none' });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const actualPort = (server.address() as AddressInfo).port;
  let stopped = false;
  return {
    chsk,
    server,
    port: actualPort,
    received,
    log,
    next(id: string, pred: (m: ServerEventMsg) => boolean = () => true, ms = 5_000): Promise<ServerEventMsg> {
      return handled(firstValueFrom(received.pipe(filter((m) => m.id === id && pred(m)), take(1), timeout(ms))));
    },
    /** Destroys every upgraded socket (mode 'killable'), as a middlebox that drops WebSockets would. */
    killSockets(): number {
      const n = upgraded.size;
      for (const s of upgraded) s.destroy();
      return n;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await chsk.close();
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ---- misc -----------------------------------------------------------------------------------------

/** A Storage-like object (the `storage` client option), with a log of writes. */
export function memoryStorage(): { getItem(k: string): string | null; setItem(k: string, v: string): void; removeItem(k: string): void; readonly map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, String(v)),
    removeItem: (k) => void map.delete(k),
  };
}

/** A deferred gate: `wait()` resolves once `open()` was called. */
export function gate(): { wait(): Promise<void>; open(): void; readonly isOpen: boolean } {
  let release!: () => void;
  let opened = false;
  const p = new Promise<void>((r) => (release = r));
  return {
    wait: () => p,
    open: () => {
      opened = true;
      release();
    },
    get isOpen() {
      return opened;
    },
  };
}
