// Load generator for sente-rx. `lib`: the RxJS client (`@sente-rx/client`) as an app uses it;
// `wire`: bare `ws` sockets speaking the sente-rx wire protocol (packages/core/PROTOCOL.md), for
// when the client library rather than the server would be the limit (WebSocket, and Ajax
// long-polling on node:http with a keep-alive agent).

import http from 'node:http';
import { createChannelSocketClient, type FetchLike } from '@sente-rx/client';
import { filter, take, timeout } from 'rxjs';
import WebSocket from 'ws';
import { runLoader, type BenchClient, type ClientOptions } from '../loader-harness.js';
import type { PushPayload } from '../types.js';

/**
 * `ws`'s WebSocket, counting the frames the client's `onmessage` handler gets: one call more per
 * frame, no listener of its own (the client sets `onmessage`, as in a browser).
 */
function frameCounting(onFrame: () => void): new (url: string, protocols?: string | string[]) => WebSocket {
  const handler = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
  if (handler?.get === undefined || handler.set === undefined) throw new Error("ws's WebSocket.prototype.onmessage is not an accessor");
  const get: (this: WebSocket) => unknown = handler.get;
  const set: (this: WebSocket, fn: unknown) => void = handler.set;
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      Object.defineProperty(this, 'onmessage', {
        get: () => get.call(this) as unknown,
        set: (fn: ((ev: WebSocket.MessageEvent) => void) | null) => {
          set.call(this, fn === null ? null : (ev: WebSocket.MessageEvent) => {
            onFrame();
            fn.call(this, ev);
          });
        },
      });
    }
  };
}

function libClient({ port, uid, transport, onPush, onFrame }: ClientOptions): Promise<BenchClient> {
  const c = createChannelSocketClient('/chsk', null, {
    type: transport === 'ws' ? 'ws' : 'ajax',
    host: '127.0.0.1',
    port,
    protocol: 'http:',
    params: { uid },
    WebSocket: frameCounting(onFrame) as unknown as typeof globalThis.WebSocket,
    ...(transport === 'polling' ? { fetch: nodeHttpFetch } : {}),
  });
  c.recv$.subscribe((m) => {
    if (m.id === 'bench/push') onPush(m.data as PushPayload);
  });
  return new Promise<BenchClient>((resolve, reject) => {
    c.state$
      .pipe(
        filter(([, now]) => now.open),
        take(1),
        timeout({ first: 30_000 }), // 30 s
      )
      .subscribe({
        next: () =>
          resolve({
            request(payload, done) {
              c.send(['bench/echo', payload], { timeoutMs: 30_000 }).subscribe({
                next: (reply) => done(null, reply),
                error: (err: unknown) => done(err),
              });
            },
            close: () => c.close(),
          }),
        error: (err: unknown) => {
          c.close();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      });
  });
}

type WireEvent = readonly [string, unknown?];

function deliverBatch(payload: unknown, onPush: (p: PushPayload) => void): void {
  if (!Array.isArray(payload)) return;
  for (const ev of payload as WireEvent[]) {
    if (Array.isArray(ev) && ev[0] === 'bench/push') onPush(ev[1] as PushPayload);
  }
}

// One keep-alive agent for every polling client of this process, as a browser would pool.
const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

/**
 * `fetch` on node:http with the keep-alive agent above, for the RxJS client's Ajax polls: what
 * Socket.IO's Node client does (its XMLHttpRequest shim is on node:http too), so both libraries'
 * load generators poll over the same HTTP stack. Node's built-in fetch (undici) cost about 76 µs
 * of load-generator CPU per request here against about 6 µs for node:http, which made the load
 * generator, not the server, the limit of the long-polling scenario (bench README).
 */
const nodeHttpFetch: FetchLike = (input, init = {}) =>
  new Promise<Response>((resolve, reject) => {
    const url = new URL(input);
    const body = typeof init.body === 'string' || init.body instanceof Uint8Array ? init.body : undefined;
    const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
    if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: init.method ?? 'GET', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const status = res.statusCode ?? 0;
        const response: Pick<Response, 'ok' | 'status' | 'body' | 'text' | 'arrayBuffer'> = {
          ok: status >= 200 && status < 300,
          status,
          body: null,
          text: () => Promise.resolve(buf.toString('utf8')),
          arrayBuffer: () => Promise.resolve(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer),
        };
        resolve(response as Response);
      });
    });
    req.on('error', reject);
    const signal = init.signal;
    if (signal) {
      const abort = (): void => {
        req.destroy();
        reject(new DOMException('This operation was aborted', 'AbortError'));
      };
      if (signal.aborted) return abort();
      signal.addEventListener('abort', abort, { once: true });
      req.once('close', () => signal.removeEventListener('abort', abort));
    }
    req.end(body);
  });

function httpCall(port: number, path: string, method: 'GET' | 'POST', body: string | undefined, track: (r: http.ClientRequest) => void): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers: body === undefined ? {} : { 'Content-Type': 'text/plain;charset=UTF-8', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    track(req);
    req.end(body);
  });
}

/** Ajax long-polling on bare node:http: a GET held until events arrive, re-issued at once. */
function wirePollClient({ port, uid, clientId, onPush }: ClientOptions): Promise<BenchClient> {
  const base = `/chsk?${new URLSearchParams({ 'client-id': clientId, uid })}`;
  let stopped = false;
  let poll: http.ClientRequest | undefined;
  const client: BenchClient = {
    request(payload, done) {
      httpCall(port, `${base}&udt=${Date.now()}`, 'POST', JSON.stringify([['bench/echo', payload], 'ajax']), () => {}).then(
        (text) => done(null, (JSON.parse(text) as [unknown, null])[0]),
        (err: unknown) => done(err),
      );
    },
    close() {
      stopped = true;
      poll?.destroy();
    },
  };
  return new Promise<BenchClient>((resolve, reject) => {
    const loop = async (): Promise<void> => {
      let first = true;
      while (!stopped) {
        const text = await httpCall(port, `${base}&udt=${Date.now()}${first ? '&handshake%3F=1' : ''}`, 'GET', undefined, (r) => (poll = r));
        const [payload] = JSON.parse(text) as [unknown, null];
        if (first) {
          if (!Array.isArray(payload) || payload[0] !== 'chsk/handshake') throw new Error(`expected a handshake, got ${text.slice(0, 100)}`);
          first = false;
          resolve(client);
        } else deliverBatch(payload, onPush);
      }
    };
    loop().catch((err: unknown) => {
      if (!stopped) reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

function wireClient(options: ClientOptions): Promise<BenchClient> {
  const { port, uid, clientId, transport, onPush, onFrame } = options;
  if (transport === 'polling') return wirePollClient(options);
  return new Promise<BenchClient>((resolve, reject) => {
    const query = new URLSearchParams({ 'client-id': clientId, uid });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chsk?${query}`, { perMessageDeflate: false });
    const pending = new Map<string, (err: unknown, reply?: unknown) => void>();
    let seq = 0;
    const client: BenchClient = {
      request(payload, done) {
        const cbId = String(++seq);
        pending.set(cbId, done);
        ws.send(JSON.stringify([['bench/echo', payload], cbId]));
      },
      close: () => ws.close(),
    };
    ws.on('error', (err) => reject(err));
    ws.on('close', () => {
      for (const done of pending.values()) done(new Error('closed'));
      pending.clear();
    });
    ws.on('message', (data) => {
      onFrame();
      const [payload, cbId] = JSON.parse(String(data)) as [unknown, string | null];
      if (cbId !== null && cbId !== undefined) {
        const done = pending.get(cbId);
        pending.delete(cbId);
        done?.(null, payload);
        return;
      }
      if (payload === 'chsk/ws-ping') {
        // The server's keep-alive ping: unanswered, it closes the socket after wsPingTimeoutMs.
        ws.send(JSON.stringify([['chsk/ws-pong'], null]));
        return;
      }
      if (!Array.isArray(payload)) return;
      if (payload[0] === 'chsk/handshake') {
        resolve(client);
        return;
      }
      deliverBatch(payload, onPush);
    });
  });
}

await runLoader((options) => (options.kind === 'wire' ? wireClient(options) : libClient(options)));
