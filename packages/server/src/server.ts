/**
 * createChannelSocketServer: the host-agnostic core of the server (Sente's
 * `make-channel-socket-server!`). Adapters (./node) turn HTTP requests and WebSockets into calls
 * on `ServerCore`; everything else — the rejection pipeline, connection tracking with grace
 * periods, per-uid send buffers, keep-alive, Ajax long-polls — lives here.
 */
import {
  ALL_USERS_WITHOUT_UID,
  assertEvent,
  batchEnvelope,
  type CbId,
  type ChskEvent,
  DEFAULT_MAX_MESSAGE_BYTES,
  DUMMY_CB_200,
  envelope,
  handshakeEnvelope,
  isReservedId,
  jsonPacker,
  LP_TIMEOUT,
  type Logger,
  NIL_UID,
  type Packed,
  parseClientMessage,
  PONG,
  silentLogger,
  type Uid,
  WS_PING,
  WS_PONG,
  CloseCode,
  readonlyBehaviorSubject,
} from '@sente-rx/core';
import { asyncScheduler, BehaviorSubject, type Observable, type SchedulerLike, Subject, type Subscription } from 'rxjs';
import { type Broker, type BrokerMessage, EMPTY_UIDS, inMemoryBroker } from './broker.js';
import { allowOrigin, validCsrfToken } from './security.js';
import type {
  AjaxResponder,
  ConnectedUids,
  ReadonlyBehaviorSubject,
  Rejection,
  RequestInfo,
  RequestView,
  ResolvedOptions,
  SendFn,
  SendOptions,
  ServerAdapter,
  ServerChannel,
  ServerCore,
  ServerEventMsg,
  ServerOptions,
  WsConnection,
} from './types.js';

/** What `createChannelSocketServer` returns, before the adapter adds its handlers. */
export interface ChannelSocketServer {
  /** Hot. Never errors because of a client's input; completes on `close()`. */
  readonly recv$: Observable<ServerEventMsg>;
  /** Push `event` to every client of `uid`, on every transport (and, with a cluster broker, every node). */
  readonly send: SendFn;
  readonly connectedUids$: ReadonlyBehaviorSubject<ConnectedUids>;
  /** Closes every connection (WebSocket 1001; held polls answered) and releases all timers. */
  close(): Promise<void>;
}

const CLIENT_ID_MAX = 128;
const CHSK_CLOSE = 'chsk/close';

type ConnType = 'ws' | 'ajax';

/** One client (client id) on one transport: Sente's `conns_` entry `[?sch udt conn-id]`. */
class Conn implements WsConnection {
  /** The open WebSocket, or the held Ajax poll; `null` between polls and during the grace period. */
  ch: ServerChannel | AjaxResponder | null = null;
  /** Last activity (ms). */
  udt: number;
  /** When the unanswered server ping went out; 0 when none is outstanding. */
  pingedAt = 0;
  /** Ajax: has polled at least once, so the uid counts as connected. WebSocket: always. */
  polled: boolean;
  /** Events waiting for a channel (between polls, or while reconnecting within the grace period). */
  pending: ChskEvent[] | null = null;
  graceTimer: Subscription | null = null;
  lpTimer: Subscription | null = null;

  constructor(
    readonly srv: Server<never>,
    readonly type: ConnType,
    readonly uid: Uid,
    readonly clientId: string,
    public request: RequestInfo,
    now: number,
  ) {
    this.udt = now;
    this.polled = type === 'ws';
  }

  message(data: Packed, isBinary: boolean): void {
    this.srv.wsMessage(this, data, isBinary);
  }

  closed(code: number): void {
    this.srv.wsClosed(this, code);
  }
}

function resolveOptions<TReq>(o: ServerOptions<TReq>): ResolvedOptions<TReq> {
  const lpTimeoutMs = o.lpTimeoutMs ?? 20_000; // 20 s, under Heroku's 30 s
  if (!(lpTimeoutMs > 0 && lpTimeoutMs < 60_000)) throw new TypeError('lpTimeoutMs must be > 0 and < 60000 (the client-side Ajax timeout)');
  const nonNeg = (name: string, v: number): number => {
    if (!(Number.isFinite(v) && v >= 0)) throw new TypeError(`${name} must be a finite number >= 0, got ${String(v)}`);
    return v;
  };
  const positive = (name: string, v: number): number => {
    if (!(Number.isFinite(v) && v > 0)) throw new TypeError(`${name} must be a finite number > 0, got ${String(v)}`);
    return v;
  };
  const allowed = o.allowedOrigins ?? 'same-origin';
  if (allowed !== 'all' && allowed !== 'same-origin' && !Array.isArray(allowed)) {
    throw new TypeError("allowedOrigins must be 'all', 'same-origin' or a list of origins");
  }
  return {
    userId: o.userId ?? (() => undefined),
    csrfToken: o.csrfToken,
    handshakeData: o.handshakeData ?? (() => null),
    allowedOrigins: allowed,
    authorized: o.authorized,
    reject: o.reject,
    packer: o.packer ?? jsonPacker,
    wsKeepAliveMs: nonNeg('wsKeepAliveMs', o.wsKeepAliveMs ?? 25_000), // 25 s
    wsPingTimeoutMs: nonNeg('wsPingTimeoutMs', o.wsPingTimeoutMs ?? 10_000), // 10 s
    lpTimeoutMs,
    sendBufMs: {
      ws: nonNeg('sendBufMs.ws', o.sendBufMs?.ws ?? 30),
      ajax: nonNeg('sendBufMs.ajax', o.sendBufMs?.ajax ?? 100),
    },
    reconnectGraceMs: {
      ws: nonNeg('reconnectGraceMs.ws', o.reconnectGraceMs?.ws ?? 2_500),
      ajax: nonNeg('reconnectGraceMs.ajax', o.reconnectGraceMs?.ajax ?? 5_000),
    },
    maxMessageBytes: positive('maxMessageBytes', o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES),
    maxBufferedBytes: positive('maxBufferedBytes', o.maxBufferedBytes ?? 8 * 1_048_576), // 8 MiB
    maxPendingEvents: positive('maxPendingEvents', o.maxPendingEvents ?? 1_000),
  };
}

const isWsChannel = (ch: ServerChannel | AjaxResponder | null): ch is ServerChannel => ch !== null && 'terminate' in ch;
const OPEN = 1;

class Server<TReq> implements ServerCore<TReq> {
  readonly options: ResolvedOptions<TReq>;
  readonly logger: Logger;
  readonly recv = new Subject<ServerEventMsg>();
  readonly uids$ = new BehaviorSubject<ConnectedUids>(EMPTY_UIDS);
  readonly send: SendFn;

  private readonly scheduler: SchedulerLike;
  private readonly broker: Broker;
  private readonly ownsBroker: boolean;
  private readonly conns = { ws: new Map<Uid, Map<string, Conn>>(), ajax: new Map<Uid, Map<string, Conn>>() };
  private readonly bufs = { ws: new Map<Uid, ChskEvent[]>(), ajax: new Map<Uid, ChskEvent[]>() };
  private readonly bufTimers = { ws: new Map<Uid, Subscription>(), ajax: new Map<Uid, Subscription>() };
  private local: ConnectedUids = EMPTY_UIDS;
  private readonly cleanups: (() => void | Promise<void>)[] = [];
  private readonly subs: Subscription[] = [];
  private readonly packedPing: Packed;
  private readonly packedLpTimeout: Packed;
  private closing = false;
  private readonly heldPosts = new Set<() => void>();
  private closed: Promise<void> | undefined;

  constructor(options: ServerOptions<TReq>) {
    this.options = resolveOptions(options);
    this.logger = options.logger ?? silentLogger;
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.ownsBroker = options.broker === undefined;
    this.broker = options.broker ?? inMemoryBroker();
    this.packedPing = this.options.packer.pack(envelope(WS_PING));
    this.packedLpTimeout = this.options.packer.pack(envelope(LP_TIMEOUT));
    if (this.options.csrfToken === undefined) {
      this.logger.warn('sente-rx: no csrfToken option, so every request fails the CSRF check; pass csrfToken: () => SKIP_CSRF_CHECK to rely on origin checks alone');
    }
    this.send = (uid, event, opts) => this.publish(uid, event, opts);
    this.broker.connect({ deliver: (msg) => this.deliver(msg) });
    this.subs.push(this.broker.connectedUids$.subscribe((u) => this.uids$.next(u)));
    const { wsKeepAliveMs: k, wsPingTimeoutMs: p } = this.options;
    if (k > 0) {
      // One sweep for all sockets instead of a timer per socket; a tick of a quarter of the
      // shorter interval bounds how late a ping or a close can be.
      const tick = Math.max(10, Math.floor(Math.min(k / 2, p > 0 ? p : k / 2) / 4));
      const sweep = (): void => this.keepAliveSweep();
      this.subs.push(this.scheduler.schedule(function (this: { schedule(s?: undefined, d?: number): Subscription }) {
        sweep();
        this.schedule(undefined, tick);
      }, tick));
    }
  }

  // ---- public surface ----------------------------------------------------------------------

  private publish(uid: Uid, event: ChskEvent, opts?: SendOptions): void {
    if (uid === null || uid === undefined) {
      throw new TypeError('send(uid, …): uid is required; send to ALL_USERS_WITHOUT_UID to reach anonymous clients');
    }
    assertEvent(event, 'send(uid, event): event');
    if (isReservedId(event[0]) && event[0] !== CHSK_CLOSE) {
      throw new TypeError(`send(uid, event): ids in the chsk/ namespace are reserved (got ${event[0]})`);
    }
    const target = uid === ALL_USERS_WITHOUT_UID ? NIL_UID : String(uid);
    this.broker.publish({ uid: target, events: [event], flush: opts?.flush === true });
  }

  onClose(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }

  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    for (const s of this.subs) s.unsubscribe();
    for (const type of ['ws', 'ajax'] as const) {
      for (const t of this.bufTimers[type].values()) t.unsubscribe();
      this.bufTimers[type].clear();
      this.bufs[type].clear();
      for (const byClient of this.conns[type].values()) {
        for (const c of byClient.values()) {
          c.graceTimer?.unsubscribe();
          c.lpTimer?.unsubscribe();
          const ch = c.ch;
          c.ch = null;
          if (isWsChannel(ch)) ch.close(CloseCode.GOING_AWAY, 'server closing');
          else this.answerLpTimeout(ch);
        }
      }
      this.conns[type].clear();
    }
    for (const answer of [...this.heldPosts]) answer();
    this.local = EMPTY_UIDS;
    for (const fn of this.cleanups) await fn();
    if (this.ownsBroker) await this.broker.close();
    this.recv.complete();
    this.uids$.complete();
  }

  // ---- the rejection pipeline ----------------------------------------------------------------

  check(view: RequestView, req: TReq): Rejection | null {
    const o = this.options;
    try {
      const custom = o.reject?.(req);
      if (custom !== null && custom !== undefined) return custom;
      const ref = o.csrfToken === undefined ? undefined : o.csrfToken(req);
      if (!validCsrfToken(ref, view)) return { status: 403, body: 'Bad CSRF token' };
      if (!allowOrigin(o.allowedOrigins, view)) return { status: 403, body: 'Unauthorized origin' };
      if (o.authorized !== undefined && !o.authorized(req)) return { status: 401, body: 'Unauthorized request' };
    } catch (err) {
      this.logger.error('sente-rx: a request check (reject/csrfToken/authorized) threw', { err, url: view.url });
      return { status: 500, body: 'Internal server error' };
    }
    const clientId = view.query.get('client-id');
    if (clientId === null || clientId === '' || clientId.length > CLIENT_ID_MAX) {
      this.logger.warn('sente-rx: request without a valid client-id query parameter', { url: view.url.split('?')[0] });
      return { status: 400, body: 'Missing or invalid client-id query parameter' };
    }
    return null;
  }

  private uidOf(req: TReq, clientId: string): Uid {
    const uid = this.options.userId(req, clientId);
    return uid === null || uid === undefined || uid === '' ? NIL_UID : String(uid);
  }

  private emit(conn: Conn, event: ChskEvent, request: RequestInfo, reply?: (v: unknown) => void): void {
    // Two literals rather than a spread: this runs once per message.
    const msg: ServerEventMsg =
      reply === undefined
        ? { event, id: event[0], data: event[1], uid: conn.uid, clientId: conn.clientId, request, send: this.send }
        : { event, id: event[0], data: event[1], uid: conn.uid, clientId: conn.clientId, request, send: this.send, reply };
    this.recv.next(msg);
  }

  // ---- WebSocket -------------------------------------------------------------------------------

  wsOpen(channel: ServerChannel, view: RequestView, req: TReq, info: RequestInfo): WsConnection {
    const clientId = view.query.get('client-id') ?? '';
    let uid: Uid;
    let handshakeData: unknown;
    try {
      uid = this.uidOf(req, clientId);
      handshakeData = this.options.handshakeData(req);
    } catch (err) {
      this.logger.error('sente-rx: userId or handshakeData threw during a WebSocket handshake', { err, clientId });
      channel.close(1011, 'chsk/server-error');
      return { clientId, uid: '', message: () => undefined, closed: () => undefined };
    }
    const now = this.scheduler.now();
    const conn = new Conn(this as unknown as Server<never>, 'ws', uid, clientId, info, now);
    conn.ch = channel;
    const old = this.conns.ws.get(uid)?.get(clientId);
    if (old !== undefined) {
      old.graceTimer?.unsubscribe();
      conn.pending = old.pending;
      const oldCh = old.ch;
      old.ch = null;
      if (isWsChannel(oldCh) && oldCh.readyState === OPEN) oldCh.close(CloseCode.NORMAL, 'replaced by a newer connection');
    }
    this.register(conn);
    try {
      channel.send(this.options.packer.pack(handshakeEnvelope(uid, handshakeData, old === undefined)));
    } catch (err) {
      this.logger.error('sente-rx: the handshake data could not be packed', { err, clientId });
      channel.close(1011, 'chsk/server-error');
      return conn;
    }
    if (conn.pending !== null) {
      const packed = this.packBatch(conn.pending, uid);
      conn.pending = null;
      if (packed !== undefined) this.sendWs(conn, packed);
    }
    this.updatePresence(uid, conn);
    return conn;
  }

  wsMessage(conn: Conn, data: Packed, isBinary: boolean): void {
    const ch = conn.ch;
    if (!isWsChannel(ch)) return;
    conn.udt = this.scheduler.now();
    conn.pingedAt = 0;
    const { packer } = this.options;
    if (isBinary !== packer.binary) {
      this.logger.warn('sente-rx: closing a WebSocket that sent a frame of the wrong kind', { clientId: conn.clientId, uid: conn.uid, binary: isBinary });
      ch.close(CloseCode.UNSUPPORTED_DATA, packer.binary ? 'chsk/unsupported-data: binary frames expected' : 'chsk/unsupported-data: text frames expected');
      return;
    }
    let value: unknown;
    try {
      value = packer.unpack(data);
    } catch (err) {
      this.logger.warn('sente-rx: closing a WebSocket that sent a frame that does not unpack', { clientId: conn.clientId, uid: conn.uid, err });
      ch.close(CloseCode.BAD_FRAME, 'chsk/bad-frame: does not unpack');
      return;
    }
    const parsed = parseClientMessage(value);
    if (!parsed.ok) {
      if (parsed.cbId === undefined) {
        this.logger.warn('sente-rx: closing a WebSocket that sent a message that is not an envelope', { clientId: conn.clientId, uid: conn.uid, reason: parsed.reason });
        ch.close(CloseCode.BAD_FRAME, 'chsk/bad-frame: not an envelope');
        return;
      }
      this.logger.warn('sente-rx: dropped an invalid event', { clientId: conn.clientId, uid: conn.uid, reason: parsed.reason });
      if (parsed.cbId !== null) this.wsReply(conn, 'chsk/error', parsed.cbId);
      return;
    }
    const { event, cbId } = parsed.value;
    const id = event[0];
    if (id === WS_PING) {
      if (cbId !== null) this.wsReply(conn, PONG, cbId);
      this.emit(conn, event, conn.request);
      return;
    }
    if (id === WS_PONG) {
      this.emit(conn, event, conn.request);
      return;
    }
    if (isReservedId(id)) {
      this.logger.warn('sente-rx: dropped a client event with a reserved chsk/ id', { clientId: conn.clientId, uid: conn.uid, id });
      if (cbId !== null) this.wsReply(conn, 'chsk/error', cbId);
      return;
    }
    this.emit(conn, event, conn.request, cbId === null ? undefined : this.onceReply((v) => this.wsReply(conn, v, cbId)));
  }

  private onceReply(fn: (v: unknown) => void): (v: unknown) => void {
    let done = false;
    return (v) => {
      if (done) {
        this.logger.debug('sente-rx: reply() called again; only the first reply is sent');
        return;
      }
      done = true;
      fn(v);
    };
  }

  private wsReply(conn: Conn, value: unknown, cbId: CbId): void {
    const ch = conn.ch;
    if (!isWsChannel(ch) || ch.readyState !== OPEN) return; // the client's request fails with chsk/closed on its side
    let packed: Packed;
    try {
      packed = this.options.packer.pack(envelope(value, cbId));
    } catch (err) {
      this.logger.error('sente-rx: a reply could not be packed; the client gets chsk/error', { err, clientId: conn.clientId });
      packed = this.options.packer.pack(envelope('chsk/error', cbId));
    }
    this.sendWs(conn, packed);
  }

  /** Sends unless the client stopped reading: past `maxBufferedBytes` it is cut off. */
  private sendWs(conn: Conn, packed: Packed): boolean {
    const ch = conn.ch;
    if (!isWsChannel(ch) || ch.readyState !== OPEN) return false;
    if (ch.bufferedAmount > this.options.maxBufferedBytes) {
      this.logger.warn('sente-rx: terminating a WebSocket whose client does not read (send buffer over maxBufferedBytes)', {
        clientId: conn.clientId,
        uid: conn.uid,
        bufferedAmount: ch.bufferedAmount,
      });
      ch.terminate();
      return false;
    }
    ch.send(packed);
    return true;
  }

  wsClosed(conn: Conn, code: number): void {
    if (this.closing) return;
    const current = this.conns.ws.get(conn.uid)?.get(conn.clientId);
    conn.ch = null;
    if (current !== conn) return; // replaced by a newer socket of the same client
    this.logger.debug('sente-rx: WebSocket closed', { clientId: conn.clientId, uid: conn.uid, code });
    this.startGrace(conn);
  }

  private keepAliveSweep(): void {
    const now = this.scheduler.now();
    const idleMs = this.options.wsKeepAliveMs / 2;
    const timeoutMs = this.options.wsPingTimeoutMs;
    for (const byClient of this.conns.ws.values()) {
      for (const conn of byClient.values()) {
        const ch = conn.ch;
        if (!isWsChannel(ch) || ch.readyState !== OPEN) continue;
        if (conn.pingedAt > 0) {
          if (timeoutMs > 0 && now - conn.pingedAt >= timeoutMs) {
            this.logger.info('sente-rx: closing a silent WebSocket (no answer to a ping within wsPingTimeoutMs)', { clientId: conn.clientId, uid: conn.uid });
            ch.terminate();
          }
        } else if (now - conn.udt >= idleMs) {
          ch.send(this.packedPing);
          conn.pingedAt = timeoutMs > 0 ? now : 0;
          if (timeoutMs === 0) conn.udt = now;
        }
      }
    }
  }

  // ---- Ajax ------------------------------------------------------------------------------------

  /** The uid of an Ajax request, or `undefined` after answering 500 when `userId` threw. */
  private ajaxUid(req: TReq, clientId: string, res: AjaxResponder): Uid | undefined {
    try {
      return this.uidOf(req, clientId);
    } catch (err) {
      this.logger.error('sente-rx: userId threw during an Ajax request', { err, clientId });
      res.respond(500, 'Internal server error', 'text/plain; charset=utf-8');
      return undefined;
    }
  }

  /** Ends a held poll without events (the client polls again at once). */
  private answerLpTimeout(res: AjaxResponder | ServerChannel | null): void {
    if (res !== null && !isWsChannel(res) && !res.done) res.respond(200, this.packedLpTimeout, this.contentType());
  }

  ajaxGet(view: RequestView, req: TReq, info: RequestInfo, res: AjaxResponder): void {
    const clientId = view.query.get('client-id') ?? '';
    const uid = this.ajaxUid(req, clientId, res);
    if (uid === undefined) return;
    const { packer } = this.options;
    const existing = this.conns.ajax.get(uid)?.get(clientId);
    const wantsHandshake = view.query.has('handshake?') || view.query.has('handshake');
    if (wantsHandshake || existing === undefined) {
      let hs: Packed;
      try {
        hs = packer.pack(handshakeEnvelope(uid, this.options.handshakeData(req), existing === undefined));
      } catch (err) {
        this.logger.error('sente-rx: handshakeData threw or could not be packed', { err, clientId });
        res.respond(500, 'Internal server error', 'text/plain; charset=utf-8');
        return;
      }
      const conn = new Conn(this as unknown as Server<never>, 'ajax', uid, clientId, info, this.scheduler.now());
      if (existing !== undefined) {
        conn.pending = existing.pending;
        conn.polled = existing.polled;
        this.dropTimers(existing);
        const held = existing.ch;
        existing.ch = null;
        this.answerLpTimeout(held);
      }
      this.register(conn);
      res.respond(200, hs, this.contentType());
      this.startGrace(conn);
      return;
    }
    const conn = existing;
    this.dropTimers(conn);
    conn.request = info;
    conn.udt = this.scheduler.now();
    const held = conn.ch;
    this.answerLpTimeout(held);
    conn.ch = null;
    conn.polled = true;
    const pendingPacked = conn.pending === null ? undefined : this.packBatch(conn.pending, uid);
    conn.pending = null;
    if (pendingPacked !== undefined) {
      res.respond(200, pendingPacked, this.contentType());
      this.startGrace(conn);
    } else {
      conn.ch = res;
      conn.lpTimer = this.scheduler.schedule(() => {
        conn.lpTimer = null;
        if (conn.ch !== res) return;
        conn.ch = null;
        this.answerLpTimeout(res);
        this.startGrace(conn);
      }, this.options.lpTimeoutMs);
      res.onAbort(() => {
        if (conn.ch !== res) return;
        conn.ch = null;
        conn.lpTimer?.unsubscribe();
        conn.lpTimer = null;
        this.startGrace(conn);
      });
    }
    this.updatePresence(uid, conn);
  }

  ajaxPost(view: RequestView, req: TReq, info: RequestInfo, body: Packed, res: AjaxResponder): void {
    const clientId = view.query.get('client-id') ?? '';
    const { packer } = this.options;
    let value: unknown;
    try {
      value = packer.unpack(body);
    } catch {
      this.logger.warn('sente-rx: refused an Ajax POST whose body does not unpack', { clientId });
      res.respond(400, 'Bad request: the body does not unpack', 'text/plain; charset=utf-8');
      return;
    }
    const parsed = parseClientMessage(value);
    if (!parsed.ok || isReservedId(parsed.value.event[0])) {
      const reason = parsed.ok ? `reserved event id ${parsed.value.event[0]}` : parsed.reason;
      this.logger.warn('sente-rx: refused an invalid Ajax POST', { clientId, reason });
      res.respond(400, `Bad request: ${reason.slice(0, 200)}`, 'text/plain; charset=utf-8');
      return;
    }
    const uid = this.ajaxUid(req, clientId, res);
    if (uid === undefined) return;
    const { event, cbId } = parsed.value;
    const conn = this.conns.ajax.get(uid)?.get(clientId) ?? new Conn(this as unknown as Server<never>, 'ajax', uid, clientId, info, 0);
    if (cbId === null) {
      res.respond(200, packer.pack(envelope(DUMMY_CB_200)), this.contentType());
      this.emit(conn, event, info);
      return;
    }
    let timer: Subscription | null = null;
    const answer = (v: unknown): void => {
      timer?.unsubscribe();
      if (res.done) return;
      let packed: Packed;
      try {
        packed = packer.pack(envelope(v));
      } catch (err) {
        this.logger.error('sente-rx: a reply could not be packed; the client gets chsk/error', { err, clientId });
        packed = packer.pack(envelope('chsk/error'));
      }
      res.respond(200, packed, this.contentType());
    };
    const reply = this.onceReply((v) => {
      this.heldPosts.delete(onServerClose);
      answer(v);
    });
    // close() answers a POST still waiting for its reply, so the client's request fails at once.
    const onServerClose = (): void => reply('chsk/closed');
    this.heldPosts.add(onServerClose);
    timer = this.scheduler.schedule(() => reply(LP_TIMEOUT), this.options.lpTimeoutMs);
    res.onAbort(() => {
      timer?.unsubscribe();
      this.heldPosts.delete(onServerClose);
    });
    this.emit(conn, event, info, reply);
  }

  private contentType(): string {
    return this.options.packer.binary ? 'application/octet-stream' : 'application/json; charset=utf-8';
  }

  // ---- connection tracking ---------------------------------------------------------------------

  private register(conn: Conn): void {
    let byClient = this.conns[conn.type].get(conn.uid);
    if (byClient === undefined) this.conns[conn.type].set(conn.uid, (byClient = new Map()));
    byClient.set(conn.clientId, conn);
  }

  private dropTimers(conn: Conn): void {
    conn.graceTimer?.unsubscribe();
    conn.graceTimer = null;
    conn.lpTimer?.unsubscribe();
    conn.lpTimer = null;
  }

  /** After the grace period with no new channel, the client is gone (Sente §4.7). */
  private startGrace(conn: Conn): void {
    conn.graceTimer?.unsubscribe();
    conn.graceTimer = this.scheduler.schedule(() => {
      conn.graceTimer = null;
      const byClient = this.conns[conn.type].get(conn.uid);
      if (byClient?.get(conn.clientId) !== conn || conn.ch !== null) return;
      byClient.delete(conn.clientId);
      if (byClient.size === 0) this.conns[conn.type].delete(conn.uid);
      if (conn.pending !== null) {
        this.logger.warn('sente-rx: dropped events for a client that did not come back within the grace period', {
          clientId: conn.clientId,
          uid: conn.uid,
          dropped: conn.pending.length,
        });
      }
      this.updatePresence(conn.uid, conn);
    }, this.options.reconnectGraceMs[conn.type]);
  }

  private updatePresence(uid: Uid, conn: Conn): void {
    if (this.closing) return;
    const ws = this.conns.ws.has(uid);
    let ajax = false;
    for (const c of this.conns.ajax.get(uid)?.values() ?? []) {
      if (c.polled) {
        ajax = true;
        break;
      }
    }
    const was = this.local;
    const wasWs = was.ws.has(uid);
    const wasAjax = was.ajax.has(uid);
    if (wasWs === ws && wasAjax === ajax) return;
    const toggle = (set: ReadonlySet<Uid>, on: boolean): ReadonlySet<Uid> => {
      if (set.has(uid) === on) return set;
      const copy = new Set(set);
      if (on) copy.add(uid);
      else copy.delete(uid);
      return copy;
    };
    this.local = { ws: toggle(was.ws, ws), ajax: toggle(was.ajax, ajax), any: toggle(was.any, ws || ajax) };
    this.broker.setPresence(this.local);
    const wasAny = wasWs || wasAjax;
    const isAny = ws || ajax;
    if (!wasAny && isAny) this.emit(conn, ['chsk/uidport-open', uid], conn.request);
    else if (wasAny && !isAny) this.emit(conn, ['chsk/uidport-close', uid], conn.request);
  }

  // ---- delivery --------------------------------------------------------------------------------

  private deliver(msg: BrokerMessage): void {
    if (this.closing) return;
    const { uid, events, flush } = msg;
    if (events.length === 1 && events[0]![0] === CHSK_CLOSE) {
      this.closeUid(uid, flush);
      return;
    }
    for (const type of ['ws', 'ajax'] as const) {
      if (!this.conns[type].has(uid)) continue;
      let buf = this.bufs[type].get(uid);
      if (buf === undefined) this.bufs[type].set(uid, (buf = []));
      for (const e of events) buf.push(e);
      const windowMs = this.options.sendBufMs[type];
      if (flush || windowMs === 0) this.flush(type, uid);
      else if (!this.bufTimers[type].has(uid)) {
        this.bufTimers[type].set(uid, this.scheduler.schedule(() => this.flush(type, uid), windowMs));
      }
    }
  }

  /** Sente's undocumented `[:chsk/close]`: close every channel of `uid`; its clients reconnect. */
  private closeUid(uid: Uid, flush: boolean): void {
    if (flush) {
      this.flush('ws', uid);
      this.flush('ajax', uid);
    }
    for (const c of this.conns.ws.get(uid)?.values() ?? []) {
      if (isWsChannel(c.ch)) c.ch.close(CloseCode.SERVER_CLOSE_UID, 'chsk/close');
    }
    for (const c of this.conns.ajax.get(uid)?.values() ?? []) {
      const held = c.ch;
      if (held !== null && !isWsChannel(held) && !held.done) {
        c.ch = null;
        c.lpTimer?.unsubscribe();
        this.answerLpTimeout(held);
        this.startGrace(c);
      }
    }
  }

  private flush(type: ConnType, uid: Uid): void {
    this.bufTimers[type].get(uid)?.unsubscribe();
    this.bufTimers[type].delete(uid);
    const events = this.bufs[type].get(uid);
    this.bufs[type].delete(uid);
    const clients = this.conns[type].get(uid);
    if (events === undefined || events.length === 0) return;
    if (clients === undefined) {
      this.logger.debug('sente-rx: dropped events for a uid whose clients left during the batching window', { uid, type, dropped: events.length });
      return;
    }
    let packed: Packed | undefined;
    for (const conn of clients.values()) {
      const ch = conn.ch;
      if (type === 'ws' && isWsChannel(ch) && ch.readyState === OPEN) {
        packed ??= this.packBatch(events, uid);
        if (packed === undefined) return;
        if (this.sendWs(conn, packed)) conn.udt = this.scheduler.now();
      } else if (type === 'ajax' && ch !== null && !isWsChannel(ch) && !ch.done) {
        // Clients with nothing pending share one packed batch, as WebSocket clients do.
        const batch = conn.pending === null ? (packed ??= this.packBatch(events, uid)) : this.packBatch(conn.pending.concat(events), uid);
        conn.pending = null;
        if (batch === undefined) continue;
        conn.ch = null;
        conn.lpTimer?.unsubscribe();
        conn.lpTimer = null;
        ch.respond(200, batch, this.contentType());
        this.startGrace(conn);
      } else {
        this.addPending(conn, events);
      }
    }
  }

  /**
   * Packs a push batch. `send` validated each event's shape, but a value JSON cannot carry
   * (a BigInt, a cycle) only shows here, inside a timer: drop those events, log them, and
   * deliver the rest rather than throw out of the timer.
   */
  private packBatch(events: readonly ChskEvent[], uid: Uid): Packed | undefined {
    const { packer } = this.options;
    try {
      return packer.pack(batchEnvelope(events));
    } catch {
      const ok = events.filter((e) => {
        try {
          packer.pack(e);
          return true;
        } catch (err) {
          this.logger.error('sente-rx: dropped a pushed event that cannot be packed', { uid, id: e[0], err });
          return false;
        }
      });
      return ok.length === 0 ? undefined : packer.pack(batchEnvelope(ok));
    }
  }

  private addPending(conn: Conn, events: readonly ChskEvent[]): void {
    const pending = (conn.pending ??= []);
    for (const e of events) pending.push(e);
    const over = pending.length - this.options.maxPendingEvents;
    if (over > 0) {
      pending.splice(0, over);
      this.logger.warn('sente-rx: dropped the oldest events kept for a client without a channel (maxPendingEvents)', {
        clientId: conn.clientId,
        uid: conn.uid,
        dropped: over,
      });
    }
  }
}

/**
 * Creates a channel socket server (Sente's `make-channel-socket-server!`). The adapter binds it to
 * a host and adds that host's handlers to the result, e.g. `nodeAdapter()` adds
 * `ajaxGetOrWsHandshake`, `ajaxPost` and `attach`.
 */
export function createChannelSocketServer<TReq, TApi extends object>(
  adapter: ServerAdapter<TReq, TApi>,
  options: ServerOptions<TReq> = {},
): ChannelSocketServer & TApi {
  const srv = new Server<TReq>(options);
  const api = adapter.bind(srv);
  const readonlyUids = readonlyBehaviorSubject(srv.uids$);
  const base: ChannelSocketServer = {
    recv$: srv.recv.asObservable(),
    send: srv.send,
    connectedUids$: readonlyUids,
    close: () => srv.close(),
  };
  return Object.assign(api, base);
}
