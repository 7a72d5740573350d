/**
 * The Node adapter: `ws` in noServer mode for WebSockets, plain `(req, res)` handlers for Ajax.
 * It composes with the host server and never takes it over: `attach` adds one 'upgrade' listener
 * that handles its own path and leaves every other upgrade to other listeners, answering (400)
 * only those no listener took (see `AttachOptions.unhandledUpgradeMs`).
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Packed } from '@sente-rx/core';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { firstValueFrom, forkJoin, fromEvent, map, of, race, type SchedulerLike, take, timer } from 'rxjs';
import { ContentType, isFormContentType } from '@sente-rx/core';
import { RateLimitedLog } from './rate-limited-log.js';
import { requestPath } from './request-path.js';
import type { AjaxResponder, Rejection, RequestInfo, RequestView, ServerAdapter, ServerCore, WsConnection } from '../types.js';

export interface NodeAdapterApi {
  /** GET on the channel path: an Ajax handshake or long-poll. (WebSocket upgrades arrive through `attach`/`handleUpgrade`.) */
  ajaxGetOrWsHandshake(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** POST on the channel path: an event from an Ajax client. Mount before any body parser, or let the parser leave a Buffer/string in `req.body`. */
  ajaxPost(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /**
   * Handle WebSocket upgrades for `opts.path` on `server` (matched with `requestPath`, so an
   * absolute-form request line `GET http://host/chsk` counts and nothing throws). Upgrades for
   * other paths are left to the server's other 'upgrade' listeners; one that none of them takes
   * is answered 400 and closed (see `AttachOptions`), with a warning at most once a minute.
   */
  attach(server: HttpServer, opts?: AttachOptions): void;
  /** For hosts that route upgrades themselves: handle one upgrade request. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface AttachOptions {
  /** The channel path. @default '/chsk' */
  readonly path?: string;
  /**
   * How long an upgrade for another path may stay unanswered when the server has other 'upgrade'
   * listeners (they may take it later, e.g. after an async check). After this, unless a listener
   * took the socket (wrote to it, read from it, ended or destroyed it), it is answered
   * `400 Bad Request` and closed. With no other listener it is answered at once. Timed on the
   * server's `scheduler`. @default 10_000 (10 s)
   */
  readonly unhandledUpgradeMs?: number;
}

/** The default of `AttachOptions.unhandledUpgradeMs`. */
export const UNHANDLED_UPGRADE_MS = 10_000; // 10 s

export interface NodeAdapterOptions {
  /** Trust `X-Forwarded-For` for `request.remoteAddress`. @default false */
  readonly trustProxy?: boolean;
}

function view(req: IncomingMessage): RequestView {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    method: req.method ?? 'GET',
    url,
    query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
    header(name) {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

/** Handshake mechanics, not request data: an idle socket need not keep them. */
const DROPPED_HEADERS = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'upgrade', 'connection']);

function snapshotHeaders(req: IncomingMessage): RequestInfo['headers'] {
  const out: Record<string, string | string[] | undefined> = {};
  const h = req.headers;
  for (const k in h) if (!DROPPED_HEADERS.has(k)) out[k] = h[k];
  return out;
}

function info(req: IncomingMessage, transport: 'ws' | 'ajax', trustProxy: boolean): RequestInfo {
  const fwd = trustProxy ? req.headers['x-forwarded-for'] : undefined;
  const forwarded = typeof fwd === 'string' ? fwd.split(',')[0]?.trim() : undefined;
  return {
    transport,
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: transport === 'ws' ? snapshotHeaders(req) : req.headers,
    remoteAddress: forwarded ?? req.socket?.remoteAddress,
  };
}

/**
 * The headers of a refusal, lower-cased (one value per name). `r` comes from the pipeline, which
 * has validated the app's headers (`sanitizeRejection`); the framing headers are set last anyway.
 */
function rejectionHeaders(r: Rejection, body: string): Record<string, string> {
  return { 'content-type': ContentType.PLAIN, 'cache-control': 'no-store', ...r.headers, 'content-length': String(Buffer.byteLength(body)) };
}

function writeRejection(res: ServerResponse, r: Rejection): void {
  const body = r.body ?? STATUS_CODES[r.status] ?? '';
  res.writeHead(r.status, rejectionHeaders(r, body));
  res.end(body);
}

function rejectUpgrade(socket: Duplex, r: Rejection): void {
  if (socket.destroyed || socket.writableEnded) return;
  const body = r.body ?? STATUS_CODES[r.status] ?? '';
  const headers = Object.entries(rejectionHeaders(r, body))
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  // As ws does: once the response is flushed, close, so a client that never closes holds no fd.
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\nconnection: close\r\n${headers}\r\n${body}`);
}

/** Whether some listener took an upgrade's socket: wrote to it, reads it, ended or destroyed it. */
function taken(socket: Duplex): boolean {
  const written = (socket as Partial<Socket>).bytesWritten ?? 0;
  return socket.destroyed || socket.writableEnded || written > 0 || socket.writableLength > 0 || socket.readableFlowing === true || socket.listenerCount('data') > 0;
}

function responder(res: ServerResponse): AjaxResponder {
  let done = false;
  let abort: (() => void) | undefined;
  res.once('close', () => {
    if (!done) {
      done = true;
      abort?.();
    }
  });
  return {
    get done() {
      return done || res.writableEnded || res.destroyed;
    },
    respond(status, body: Packed, contentType: string = ContentType.PLAIN) {
      if (done || res.writableEnded || res.destroyed) return;
      done = true;
      res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength, 'Cache-Control': 'no-store' });
      res.end(body);
    },
    onAbort(fn) {
      abort = fn;
    },
  };
}

/** How long `close()` waits for the sockets' closing handshakes before cutting them. */
const CLOSE_HANDSHAKE_MS = 1_000;

/** Resolves once every socket of `wss` has closed, or after `ms` on `scheduler`: whichever is first. */
function allClosed(wss: WebSocketServer, ms: number, scheduler: SchedulerLike): Promise<void> {
  const sockets = [...wss.clients];
  if (sockets.length === 0) return Promise.resolve();
  const closes = sockets.map((ws) => (ws.readyState === ws.CLOSED ? of(undefined) : fromEvent(ws, 'close').pipe(take(1))));
  return firstValueFrom(race(forkJoin(closes), timer(ms, scheduler)).pipe(map(() => undefined)));
}

const kConn = Symbol('sente-rx.conn');
type TaggedSocket = WebSocket & { [kConn]?: WsConnection };

// Shared listeners ('this' is the socket) instead of closures per connection: idle memory matters.
function onMessage(this: TaggedSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  this[kConn]?.message(isBinary ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf.toString('utf8'), isBinary);
}
function onClose(this: TaggedSocket, code: number): void {
  this[kConn]?.closed(code);
}

/** The adapter for Node's `http`/`https` servers, Express and Connect. */
export function nodeAdapter(options: NodeAdapterOptions = {}): ServerAdapter<IncomingMessage, NodeAdapterApi> {
  const trustProxy = options.trustProxy === true;
  return {
    bind(core: ServerCore<IncomingMessage>): NodeAdapterApi {
      const { logger } = core;
      const max = core.options.maxMessageBytes;
      const wss = new WebSocketServer({ noServer: true, maxPayload: max, perMessageDeflate: false, clientTracking: true });
      wss.on('error', (err) => logger.error('sente-rx: WebSocketServer error', { err }));
      let closed = false;

      // ws reports protocol violations (a frame over maxPayload → 1009, invalid UTF-8 → 1007, …)
      // as 'error' and closes the socket itself; we log them with the client's identity.
      const onSocketError = function (this: TaggedSocket, err: Error & { code?: string }): void {
        const conn = this[kConn];
        logger.warn('sente-rx: WebSocket error; the socket is closed', { clientId: conn?.clientId, uid: conn?.uid, code: err.code, err: err.message });
      };
      const onUpgradeSocketError = (): void => undefined;
      const setupWarnings = new RateLimitedLog(logger, core.scheduler);
      /** Upgrades for other paths waiting for another listener to take them; `close()` answers them. */
      const waiting = new Set<() => void>();

      /** An upgrade for a path `attach` does not serve, once no listener took it: 400, closed. */
      function answerUnhandled(req: IncomingMessage, socket: Duplex, served: string): void {
        if (taken(socket)) return;
        socket.on('error', onUpgradeSocketError);
        setupWarnings.warn('unhandled-upgrade', 'sente-rx: answered 400 to an upgrade for a path no listener serves (is the client\'s path right?)', {
          path: requestPath(req).slice(0, 200),
          served,
        });
        rejectUpgrade(socket, { status: 400, body: 'No WebSocket endpoint at this path' });
      }

      function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
        socket.on('error', onUpgradeSocketError);
        if (closed) {
          rejectUpgrade(socket, { status: 503, body: 'Server closing' });
          return;
        }
        const v = view(req);
        const admission = core.admit(v, req);
        if (!admission.ok) {
          logger.info('sente-rx: refused a WebSocket handshake', { status: admission.rejection.status, url: v.url.split('?')[0] });
          rejectUpgrade(socket, admission.rejection);
          return;
        }
        const admitted = admission.request;
        wss.handleUpgrade(req, socket, head, (ws: TaggedSocket) => {
          socket.removeListener('error', onUpgradeSocketError);
          ws.on('error', onSocketError);
          ws.on('message', onMessage);
          ws.on('close', onClose);
          // The ws socket is the channel itself (send, close, terminate, readyState, bufferedAmount): no wrapper per connection.
          ws[kConn] = admitted.wsOpen(ws, info(req, 'ws', trustProxy));
        });
      }

      core.onClose(async () => {
        // The upgrade listeners stay: until the host server closes, upgrades to our path are
        // refused with 503 instead of being left to whatever other listener the app has.
        closed = true;
        for (const answer of [...waiting]) answer();
        // Sockets got 1001 from the core; give their closing handshakes a moment, then cut the rest.
        await allClosed(wss, CLOSE_HANDSHAKE_MS, core.scheduler);
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
      });

      return {
        handleUpgrade,
        attach(server, opts = {}) {
          const path = opts.path ?? '/chsk';
          const waitMs = opts.unhandledUpgradeMs ?? UNHANDLED_UPGRADE_MS;
          if (!(Number.isFinite(waitMs) && waitMs >= 0)) throw new TypeError(`attach: unhandledUpgradeMs must be a finite number >= 0, got ${String(waitMs)}`);
          const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
            if (requestPath(req) === path) return handleUpgrade(req, socket, head);
            // Without an answer the socket stays open forever (issue 9 item 2). Node calls every
            // listener synchronously: with no other listener nobody else will see it, so answer
            // now (unless one registered before us already did); otherwise give the others time.
            if (!server.listeners('upgrade').some((l) => l !== listener)) return answerUnhandled(req, socket, path);
            const answer = (): void => {
              stop();
              answerUnhandled(req, socket, path);
            };
            const stop = (): void => {
              wait.unsubscribe();
              waiting.delete(answer);
              socket.removeListener('close', stop);
            };
            const wait = timer(waitMs, core.scheduler).subscribe(answer);
            waiting.add(answer);
            socket.once('close', stop);
          };
          server.on('upgrade', listener);
        },

        ajaxGetOrWsHandshake(req, res) {
          if (closed) return writeRejection(res, { status: 503, body: 'Server closing' });
          if ((req.headers.upgrade ?? '').toLowerCase() === 'websocket') {
            // Only reached when no upgrade listener took the request: the host did not attach().
            setupWarnings.warn('upgrade-reached-ajax', 'sente-rx: a WebSocket upgrade reached ajaxGetOrWsHandshake (answered 426): the host server routes no upgrades to sente-rx; call chsk.attach(server) or chsk.handleUpgrade(req, socket, head) from its \'upgrade\' listener', {
              path: requestPath(req).slice(0, 200),
            });
            return writeRejection(res, { status: 426, body: 'WebSocket upgrades are not handled here; call attach(server) or handleUpgrade' });
          }
          const admission = core.admit(view(req), req);
          if (!admission.ok) return writeRejection(res, admission.rejection);
          admission.request.ajaxGet(info(req, 'ajax', trustProxy), responder(res));
        },

        ajaxPost(req, res) {
          if (closed) return writeRejection(res, { status: 503, body: 'Server closing' });
          const admission = core.admit(view(req), req);
          if (!admission.ok) return writeRejection(res, admission.rejection);
          const admitted = admission.request;
          const tooLarge = (): void => {
            logger.warn('sente-rx: refused an Ajax POST over maxMessageBytes', { maxMessageBytes: max });
            res.setHeader('Connection', 'close');
            writeRejection(res, { status: 413, body: `Payload too large (max ${max} bytes)` });
            req.unpipe();
            req.resume(); // drain without keeping it; the connection closes after the response
          };
          const done = (body: Buffer | string): void => {
            const packed: Packed = core.options.packer.binary
              ? new Uint8Array(Buffer.isBuffer(body) ? body : Buffer.from(body))
              : Buffer.isBuffer(body) ? body.toString('utf8') : body;
            admitted.ajaxPost(info(req, 'ajax', trustProxy), packed, responder(res));
          };
          const parsed = (req as IncomingMessage & { body?: unknown }).body;
          if (Buffer.isBuffer(parsed) || typeof parsed === 'string') {
            if (Buffer.byteLength(parsed) > max) return tooLarge();
            return done(parsed);
          }
          if (parsed !== undefined && (req.readableEnded || req.complete)) {
            // A form parser (express.urlencoded) left Sente's form fields: put the form back together.
            if (isFormContentType(req.headers['content-type']) && isStringRecord(parsed)) return done(new URLSearchParams(parsed).toString());
            // A body parser ran first and left a parsed value: take it as the unpacked envelope.
            if (core.options.packer.binary) return writeRejection(res, { status: 400, body: 'Bad request: the body was consumed by a body parser; mount ajaxPost before it' });
            let repacked: Packed;
            try {
              repacked = core.options.packer.pack(parsed, 'ajax-event');
            } catch {
              return writeRejection(res, { status: 400, body: 'Bad request: the body was consumed by a body parser; mount ajaxPost before it' });
            }
            return done(typeof repacked === 'string' ? repacked : Buffer.from(repacked));
          }
          const declared = Number(req.headers['content-length']);
          if (Number.isFinite(declared) && declared > max) return tooLarge();
          const chunks: Buffer[] = [];
          let size = 0;
          let over = false;
          req.on('data', (chunk: Buffer) => {
            if (over) return;
            size += chunk.length;
            if (size > max) {
              over = true;
              chunks.length = 0;
              tooLarge();
              return;
            }
            chunks.push(chunk);
          });
          req.on('end', () => {
            if (!over) done(Buffer.concat(chunks, size));
          });
          req.on('error', (err) => logger.debug('sente-rx: Ajax POST request error', { err: err.message }));
        },
      };
    },
  };
}

const isStringRecord = (x: unknown): x is Record<string, string> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && Object.values(x).every((v) => typeof v === 'string');
