/** Test support: real servers on port 0, clients, and waiting on observables (never on sleeps). */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { type Logger, SKIP_CSRF_CHECK } from '@sente-rx/core';
import { createChannelSocketClient, type ChannelSocketClient, type ClientEventMsg, type ClientOptions } from '@sente-rx/client';
import { createChannelSocketServer, type ServerEventMsg, type ServerOptions } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import type { IncomingMessage } from 'node:http';
import { filter, firstValueFrom, type Observable, ReplaySubject, take, timeout, toArray } from 'rxjs';
import WebSocket from 'ws';

export type TestServer = Awaited<ReturnType<typeof startServer>>;

export const uidFromQuery = (req: IncomingMessage): string | undefined => new URL(req.url ?? '/', 'http://x').searchParams.get('uid') ?? undefined;

/** A sente-rx server on plain node:http. `recv` replays everything the server received. */
export async function startServer(options: ServerOptions<IncomingMessage> = {}, port = 0) {
  const chsk = createChannelSocketServer(nodeAdapter(), {
    userId: uidFromQuery,
    csrfToken: () => SKIP_CSRF_CHECK,
    ...options,
  });
  const received = new ReplaySubject<ServerEventMsg>();
  chsk.recv$.subscribe(received);
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/chsk') return req.method === 'POST' ? chsk.ajaxPost(req, res) : chsk.ajaxGetOrWsHandshake(req, res);
    res.writeHead(404).end();
  });
  chsk.attach(server, { path: '/chsk' });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const actualPort = (server.address() as AddressInfo).port;
  let stopped = false;
  return {
    chsk,
    server,
    port: actualPort,
    received,
    /** Waits for the first server event-msg with this id (and predicate). */
    next(id: string, pred: (m: ServerEventMsg) => boolean = () => true, ms = 5_000): Promise<ServerEventMsg> {
      return firstValueFrom(received.pipe(filter((m) => m.id === id && pred(m)), take(1), timeout(ms)));
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await chsk.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export function client(port: number, opts: ClientOptions & { uid?: string } = {}, csrf: Parameters<typeof createChannelSocketClient>[1] = null) {
  const { uid, params, ...rest } = opts;
  return createChannelSocketClient('/chsk', csrf, {
    type: 'ws',
    host: '127.0.0.1',
    port,
    protocol: 'http:',
    WebSocket: WebSocket as unknown as ClientOptions['WebSocket'],
    params: { ...params, ...(uid === undefined ? {} : { uid }) },
    backoffMs: () => 20,
    storage: null,
    ...rest,
  });
}

export function whenOpen(c: ChannelSocketClient, ms = 5_000): Promise<void> {
  return firstValueFrom(c.state$.pipe(filter(([, s]) => s.open), take(1), timeout(ms))).then(() => undefined);
}

export function whenClosed(c: ChannelSocketClient, ms = 5_000): Promise<void> {
  return firstValueFrom(c.state$.pipe(filter(([, s]) => !s.open), take(1), timeout(ms))).then(() => undefined);
}

export function nextEvent(c: ChannelSocketClient, id: string, ms = 5_000): Promise<ClientEventMsg> {
  return firstValueFrom(c.recv$.pipe(filter((m) => m.id === id), take(1), timeout(ms)));
}

export function collect<T>(src: Observable<T>, n: number, ms = 5_000): Promise<T[]> {
  return firstValueFrom(src.pipe(take(n), toArray(), timeout(ms)));
}

// ---- wire-level helpers: raw WebSockets, raw HTTP, a recording logger ------------------------

/** One call the server made on its logger. */
export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly data: Readonly<Record<string, unknown>> | undefined;
}

export interface RecordingLogger extends Logger {
  /** Every call so far (since the last `clear()`). */
  readonly entries: LogEntry[];
  /** Waits for a call matching `pred` (calls already made count). */
  waitFor(pred: (e: LogEntry) => boolean, ms?: number): Promise<LogEntry>;
  /** Entries whose data names this client id. */
  forClient(clientId: string): LogEntry[];
  clear(): void;
}

/** A logger that records every call, for assertions on what the server logged. */
export function recordingLogger(): RecordingLogger {
  const entries: LogEntry[] = [];
  let all = new ReplaySubject<LogEntry>();
  const at =
    (level: LogEntry['level']) =>
    (msg: string, data?: Record<string, unknown>): void => {
      const e: LogEntry = { level, msg, data };
      entries.push(e);
      all.next(e);
    };
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    waitFor(pred, ms = 5_000) {
      return firstValueFrom(all.pipe(filter(pred), take(1), timeout(ms)));
    },
    forClient(clientId) {
      return entries.filter((e) => e.data?.['clientId'] === clientId);
    },
    clear() {
      entries.length = 0;
      all = new ReplaySubject<LogEntry>();
    },
  };
}

let rawSeq = 0;
/** A fresh client id for raw clients. */
export const freshClientId = (prefix = 'raw'): string => `${prefix}-${++rawSeq}-${Math.random().toString(36).slice(2, 8)}`;

/** `/chsk?client-id=…&…` from a query map (keys with `undefined` values are left out). */
export function chskPath(query: Readonly<Record<string, string | undefined>> = {}, path = '/chsk'): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
}

export interface RawWsOptions {
  /** `null` leaves the client-id out. @default a fresh id */
  readonly clientId?: string | null;
  readonly uid?: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** A `ws` client that speaks the wire directly: JSON in, JSON out, every message kept. */
export interface RawWs {
  readonly ws: WebSocket;
  readonly clientId: string;
  /** Every message, JSON-parsed (text frames) or as a Buffer (binary frames), replayed to late subscribers. */
  readonly messages: ReplaySubject<unknown>;
  /** The same messages, as an array. */
  readonly received: unknown[];
  /** Resolves on 'close'. */
  readonly closed: Promise<CloseInfo>;
  /** Resolves on 'open'; rejects if the handshake was refused (with the HTTP status in the message). */
  readonly opened: Promise<void>;
  /** Waits for the chsk/handshake envelope and returns `[uid, handshakeData, firstHandshake]`. */
  handshake(ms?: number): Promise<readonly [string, unknown, boolean]>;
  /** Waits for the first message matching `pred` (messages already received count). */
  next(pred: (m: unknown) => boolean, ms?: number): Promise<unknown>;
  /** Sends `JSON.stringify(x)` as a text frame. */
  sendJson(x: unknown): void;
  /** Sends `[event, cbId]` and resolves with the value of the envelope that echoes `cbId`. */
  request(event: unknown, cbId: string, ms?: number): Promise<unknown>;
  /** Closes (code 1000) and waits for 'close'. */
  close(): Promise<CloseInfo>;
}

export function rawWs(port: number, opts: RawWsOptions = {}): RawWs {
  const clientId = opts.clientId === undefined ? freshClientId() : opts.clientId;
  const path = chskPath({ ...opts.query, 'client-id': clientId ?? undefined, uid: opts.uid });
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { ...opts.headers } });
  const messages = new ReplaySubject<unknown>();
  const received: unknown[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    let m: unknown;
    try {
      m = isBinary ? data : JSON.parse(data.toString('utf8'));
    } catch {
      m = { unparsable: data.toString('utf8') };
    }
    received.push(m);
    messages.next(m);
  });
  ws.on('error', () => undefined); // outcomes are observed through 'close' and 'unexpected-response'
  const closed = new Promise<CloseInfo>((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') })));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`handshake refused: ${res.statusCode ?? 0}`));
      ws.terminate();
    });
    void closed.then(() => reject(new Error('closed before open')));
  });
  opened.catch(() => undefined);
  const next = (pred: (m: unknown) => boolean, ms = 5_000): Promise<unknown> => firstValueFrom(messages.pipe(filter(pred), take(1), timeout(ms)));
  return {
    ws,
    clientId: clientId ?? '',
    messages,
    received,
    closed,
    opened,
    async handshake(ms = 5_000) {
      const m = (await next((x) => Array.isArray(x) && Array.isArray(x[0]) && x[0][0] === 'chsk/handshake', ms)) as [[string, [string, unknown, boolean]], null];
      return m[0][1];
    },
    next,
    sendJson(x) {
      ws.send(JSON.stringify(x));
    },
    async request(event, cbId, ms = 5_000) {
      ws.send(JSON.stringify([event, cbId]));
      const m = (await next((x) => Array.isArray(x) && x.length === 2 && x[1] === cbId, ms)) as [unknown, string];
      return m[0];
    },
    async close() {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
      return closed;
    },
  };
}

/** Events pushed to a raw client (the contents of every push batch), in order. */
export function pushedEvents(raw: RawWs): unknown[] {
  const out: unknown[] = [];
  for (const m of raw.received) {
    if (Array.isArray(m) && m[1] === null && Array.isArray(m[0]) && m[0][0] !== 'chsk/handshake') out.push(...(m[0] as unknown[]));
  }
  return out;
}

export interface HttpResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpRequestOptions {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly signal?: AbortSignal;
}

/** One HTTP request on a fresh connection (no keep-alive), body read as UTF-8. */
export function httpRequest(port: number, opts: HttpRequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/chsk', headers: { ...opts.headers }, agent: false, ...(opts.signal ? { signal: opts.signal } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * A WebSocket upgrade request made by hand. A refused upgrade resolves with its HTTP response; an
 * accepted one with status 101 and, as `body`, the first text frame the server sent (the
 * handshake), after which the socket is destroyed.
 */
export function wsUpgrade(port: number, opts: { path?: string; headers?: Readonly<Record<string, string>> } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: opts.path ?? '/chsk',
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        ...opts.headers,
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('upgrade', (res, socket, head) => {
      let buf = head;
      const tryFrame = (): boolean => {
        const text = firstTextFrame(buf);
        if (text === undefined) return false;
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
        return true;
      };
      if (tryFrame()) return;
      socket.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        tryFrame();
      });
      socket.on('error', () => undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The payload of a complete unmasked text frame at the start of `buf` (server → client, < 64 KiB). */
function firstTextFrame(buf: Buffer): string | undefined {
  if (buf.length < 2) return undefined;
  let len = buf[1]! & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    throw new Error('frame too large for this helper');
  }
  if (buf.length < off + len) return undefined;
  return buf.subarray(off, off + len).toString('utf8');
}

/**
 * A WebSocket client done by hand on a raw TCP socket: it sends the upgrade request, waits for
 * the response head, then stops reading (the socket is paused), so the server's writes back up.
 * `rest` holds the bytes that came after the head (the start of the first frames).
 */
export function nonReadingWsClient(port: number, path: string, ms = 5_000): Promise<{ socket: net.Socket; status: number; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no upgrade response'));
    }, ms);
    let head = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      head = Buffer.concat([head, c]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.removeListener('data', onData);
      socket.pause();
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.toString('latin1'))?.[1] ?? 0);
      resolve({ socket, status, rest: head.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

/** A masked client → server frame (FIN set) with this opcode and payload (< 64 KiB). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([header, mask, body]);
}

/** Splits unmasked server → client frames (< 64 KiB each) off the front of `buf`. */
export function serverFrames(buf: Buffer): { frames: { opcode: number; payload: Buffer }[]; rest: Buffer } {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    let len = buf[off + 1]! & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      hdr = 4;
    } else if (len === 127) throw new Error('frame too large for this helper');
    if (buf.length - off < hdr + len) break;
    frames.push({ opcode: buf[off]! & 0x0f, payload: buf.subarray(off + hdr, off + hdr + len) });
    off += hdr + len;
  }
  return { frames, rest: buf.subarray(off) };
}
