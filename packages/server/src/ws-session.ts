/**
 * WebSocket sessions: the handshake, incoming frames, replies, the send-buffer cut-off, and the
 * keep-alive (server pings, ping timeout) on the scheduler.
 */
import {
  classifyClientMessage,
  CloseCode,
  Envelopes,
  type KindedEnvelope,
  type Logger,
  type Packed,
  packEnvelope,
  packHandshake,
  ProtocolCloseReason,
  type PositionQuery,
  ReservedId,
  type Uid,
} from '@sente-rx/core';
import { interval, type Subscription } from 'rxjs';
import { type CoreContext, onceReply, packIssues, packReply, type RefuseFn, type ServerChan, uidOf } from './channel.js';
import { REPLY } from './requests.js';
import type { Outbox } from './outbox.js';
import { Conn, type Registry } from './registry.js';
import type { RecoveryStarts } from './recovery-start.js';
import type { RequestInfo, RequestView, ServerChannel, WsConnection } from './types.js';

const OPEN = 1;

/** What a session needs of the set it belongs to. */
interface SessionHost {
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
  now(): number;
  message(session: WsSession, data: Packed, isBinary: boolean): void;
  closed(session: WsSession, code: number): void;
}

/** One accepted WebSocket: the registry's channel for its client, and what the adapter reports to. */
export class WsSession implements ServerChan, WsConnection {
  /** Last activity (scheduler ms): a message in, or a push out. */
  udt: number;
  /** When the unanswered server ping went out; `null` when none is outstanding. */
  pingedAt: number | null = null;

  constructor(
    private readonly ws: SessionHost,
    readonly conn: Conn,
    readonly socket: ServerChannel,
    now: number,
  ) {
    this.udt = now;
  }

  get clientId(): string {
    return this.conn.clientId;
  }

  get uid(): string {
    return this.conn.uid;
  }

  get open(): boolean {
    return this.socket.readyState === OPEN;
  }

  /** A push batch (the outbox): counts as activity for the keep-alive. */
  send(packed: Packed): boolean {
    if (!this.write(packed)) return false;
    this.udt = this.ws.now();
    return true;
  }

  /** Sends unless the client stopped reading: past `maxBufferedBytes` it is cut off. */
  write(packed: Packed): boolean {
    const s = this.socket;
    if (s.readyState !== OPEN) return false;
    if (s.bufferedAmount > this.ws.maxBufferedBytes) {
      this.ws.logger.warn('sente-rx: terminating a WebSocket whose client does not read (send buffer over maxBufferedBytes)', {
        clientId: this.clientId,
        uid: this.uid,
        bufferedAmount: s.bufferedAmount,
      });
      s.terminate();
      return false;
    }
    s.send(packed);
    return true;
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  message(data: Packed, isBinary: boolean): void {
    this.ws.message(this, data, isBinary);
  }

  closed(code: number): void {
    this.ws.closed(this, code);
  }
}

/** What a WebSocket that failed to open reports to: nothing. */
const deadConnection = (clientId: string): WsConnection => ({ clientId, uid: '', message: () => undefined, closed: () => undefined });

/** Every WebSocket session of one server. */
export class WsSessions<TReq> implements SessionHost {
  private readonly live = new Set<WsSession>();
  private readonly packedPing: Packed;
  private keepAlive: Subscription | null = null;

  constructor(
    private readonly ctx: CoreContext<TReq>,
    private readonly registry: Registry,
    private readonly outbox: Outbox,
    private readonly recovery: RecoveryStarts,
  ) {
    this.packedPing = packEnvelope(ctx.packer, Envelopes.wsPing());
    const { wsKeepAliveMs: k, wsPingTimeoutMs: p } = ctx.options;
    if (k > 0) {
      // One sweep for all sockets instead of a timer per socket; a tick of a quarter of the
      // shorter interval bounds how late a ping or a close can be.
      const tick = Math.max(10, Math.floor(Math.min(k / 2, p > 0 ? p : k / 2) / 4));
      this.keepAlive = interval(tick, ctx.scheduler).subscribe(() => this.sweep());
    }
  }

  get logger(): Logger {
    return this.ctx.logger;
  }

  get maxBufferedBytes(): number {
    return this.ctx.options.maxBufferedBytes;
  }

  now(): number {
    return this.ctx.scheduler.now();
  }

  /** A WebSocket that passed the pipeline and completed its upgrade. */
  open(channel: ServerChannel, clientId: string, req: TReq, info: RequestInfo, view?: RequestView): WsConnection {
    const { ctx } = this;
    let uid: Uid;
    let handshakeData: unknown;
    try {
      uid = uidOf(ctx, req, clientId);
      handshakeData = ctx.options.handshakeData(req);
    } catch (err) {
      ctx.logger.error('sente-rx: userId or handshakeData threw during a WebSocket handshake', { err, clientId });
      channel.close(CloseCode.INTERNAL_ERROR, ProtocolCloseReason.SERVER_ERROR);
      return deadConnection(clientId);
    }
    const conn = new Conn('ws', uid, clientId, info);
    const session = new WsSession(this, conn, channel, this.now());
    const q = view === undefined ? undefined : this.recovery.query(view);
    // Recovery: no channel until the log is read, so live deliveries are held in conn.pending.
    conn.ch = q === undefined || q.kind === 'absent' ? session : null;
    /** The broker's interest in uid: `undefined` when already live (broker.ts `interest`). */
    let interest: Promise<void> | undefined;
    const takeOver = (): Conn | undefined => {
      const old = this.registry.get('ws', uid, clientId);
      if (old !== undefined) {
        this.registry.stopGrace(old);
        conn.pending = old.pending;
        const oldCh = old.ch;
        old.ch = null;
        if (oldCh?.open === true) oldCh.close(CloseCode.NORMAL, ProtocolCloseReason.REPLACED);
      }
      interest = this.registry.register(conn);
      return old;
    };
    this.live.add(session);
    if (q !== undefined && q.kind !== 'absent') {
      // The recovery start awaits the broker's settled(), which covers the interest.
      this.startRecovery(session, q, handshakeData, takeOver);
      return session;
    }
    const first = takeOver() === undefined;
    if (interest === undefined) {
      this.greet(session, handshakeData, first);
      return session;
    }
    // No handshake before the broker's interest in uid is live (one Redis round trip with
    // redisBroker): a send the app issues once the client is open cannot miss it. Meanwhile the
    // connection has no channel, so deliveries wait in its pending queue.
    conn.ch = null;
    const greet = (): void => {
      if (ctx.closing || !session.open || conn.ch !== null) return;
      if (this.registry.get('ws', uid, clientId) !== conn) {
        // A newer socket of the same client took over while this one waited.
        session.close(CloseCode.NORMAL, ProtocolCloseReason.REPLACED);
        return;
      }
      conn.ch = session;
      this.greet(session, handshakeData, first);
    };
    void interest.then(greet, greet);
    return session;
  }

  /** The handshake, then what was queued for the client, then presence. */
  private greet(session: WsSession, handshakeData: unknown, first: boolean): void {
    const { ctx } = this;
    const { conn } = session;
    try {
      session.socket.send(packHandshake(ctx.packer, conn.uid, handshakeData, first));
    } catch (err) {
      ctx.logger.error('sente-rx: the handshake data could not be packed', { err, clientId: conn.clientId });
      session.close(CloseCode.INTERNAL_ERROR, ProtocolCloseReason.SERVER_ERROR);
      return;
    }
    const pending = this.outbox.takePending(conn);
    if (pending !== undefined) session.write(pending);
    this.registry.updatePresence(conn.uid, conn);
  }

  /** PROTOCOL.md §11.5: handshake with the recovery element, then the missed and held events, then the channel opens to live pushes. */
  private startRecovery(session: WsSession, q: Exclude<PositionQuery, { kind: 'absent' }>, handshakeData: unknown, takeOver: () => Conn | undefined): void {
    const { ctx } = this;
    const { conn } = session;
    let first = true;
    const current = (): boolean => !ctx.closing && session.open && conn.ch === null && this.registry.get('ws', conn.uid, conn.clientId) === conn;
    this.recovery.start(conn, q, {
      register: () => {
        if (ctx.closing || !session.open) return false;
        first = takeOver() === undefined;
        this.registry.updatePresence(conn.uid, conn);
        return true;
      },
      current,
      apply: (plan) => {
        conn.epoch = plan.recovery.position.epoch;
        let hs: Packed;
        try {
          hs = packHandshake(ctx.packer, conn.uid, handshakeData, first, plan.recovery);
        } catch (err) {
          ctx.logger.error('sente-rx: the handshake data could not be packed', { err, clientId: conn.clientId });
          session.close(CloseCode.INTERNAL_ERROR, ProtocolCloseReason.SERVER_ERROR);
          return;
        }
        session.write(hs);
        conn.pending = null;
        const batch = this.outbox.packEntries(conn, plan.entries);
        if (batch !== undefined) session.write(batch);
        conn.ch = session;
      },
      failed: () => session.close(CloseCode.INTERNAL_ERROR, ProtocolCloseReason.SERVER_ERROR),
    });
  }

  message(session: WsSession, data: Packed, isBinary: boolean): void {
    const { conn } = session;
    if (conn.ch !== session) return; // replaced, or the server is closing
    session.udt = this.now();
    session.pingedAt = null;
    const { ctx } = this;
    const { packer } = ctx;
    const who = { clientId: conn.clientId, uid: conn.uid };
    if (isBinary !== packer.binary) {
      ctx.logger.warn('sente-rx: closing a WebSocket that sent a frame of the wrong kind', { ...who, binary: isBinary });
      session.close(CloseCode.UNSUPPORTED_DATA, packer.binary ? 'chsk/unsupported-data: binary frames expected' : 'chsk/unsupported-data: text frames expected');
      return;
    }
    let value: unknown;
    try {
      value = packer.unpack(data);
    } catch (err) {
      ctx.logger.warn('sente-rx: closing a WebSocket that sent a frame that does not unpack', { ...who, err });
      session.close(CloseCode.BAD_FRAME, 'chsk/bad-frame: does not unpack');
      return;
    }
    const msg = classifyClientMessage(value);
    switch (msg.kind) {
      case 'not-an-envelope':
        ctx.logger.warn('sente-rx: closing a WebSocket that sent a message that is not an envelope', { ...who, reason: msg.reason });
        session.close(CloseCode.BAD_FRAME, 'chsk/bad-frame: not an envelope');
        return;
      case 'bad-event':
        if (msg.event?.[0] === REPLY && msg.cbId === null) {
          ctx.clientReply(conn, msg.event[1]);
          return;
        }
        if (msg.event === undefined) ctx.logger.warn('sente-rx: dropped an invalid event', { ...who, reason: msg.reason });
        else ctx.logger.warn('sente-rx: dropped a client event with a reserved chsk/ id', { ...who, id: msg.event[0] });
        if (msg.cbId !== null) this.reply(session, Envelopes.error(msg.cbId));
        return;
      case 'ping':
        if (msg.cbId !== null) this.reply(session, Envelopes.pong(msg.cbId));
        ctx.emit(conn, msg.event, conn.request);
        return;
      case 'pong':
        ctx.emit(conn, msg.event, conn.request);
        return;
      case 'event': {
        const { cbId } = msg;
        if (cbId === null) {
          ctx.emit(conn, msg.event, conn.request);
          return;
        }
        // A reserved failure value goes out as its own envelope kind (a keyword with Sente's packers).
        const reply = onceReply(ctx.logger, (v) => this.reply(session, v === ReservedId.ERROR ? Envelopes.error(cbId) : Envelopes.reply(v, cbId)));
        // The issues go first, as a push entry, so the client has them when the chsk/error reply settles its request.
        const refuse = (issues: Parameters<RefuseFn>[0]): void => {
          if (session.conn.ch === session && session.open) session.write(packIssues(ctx, cbId, issues));
          reply(ReservedId.ERROR);
        };
        ctx.emit(conn, msg.event, conn.request, reply, refuse);
        return;
      }
    }
  }

  /** The client's request fails with chsk/closed on its side if the socket is gone. */
  private reply(session: WsSession, answer: KindedEnvelope): void {
    if (session.conn.ch !== session || !session.open) return;
    session.write(packReply(this.ctx, answer, session.clientId));
  }

  closed(session: WsSession, code: number): void {
    this.live.delete(session);
    if (this.ctx.closing) return;
    const { conn } = session;
    if (this.registry.get('ws', conn.uid, conn.clientId) !== conn) {
      conn.ch = null; // replaced by a newer socket of the same client
      return;
    }
    this.ctx.logger.debug('sente-rx: WebSocket closed', { clientId: conn.clientId, uid: conn.uid, code });
    conn.ch = null;
    this.registry.startGrace(conn);
  }

  private sweep(): void {
    const now = this.now();
    const idleMs = this.ctx.options.wsKeepAliveMs / 2;
    const timeoutMs = this.ctx.options.wsPingTimeoutMs;
    for (const s of this.live) {
      if (s.conn.ch !== s || !s.open) continue;
      if (s.pingedAt !== null) {
        if (timeoutMs > 0 && now - s.pingedAt >= timeoutMs) {
          this.ctx.logger.info('sente-rx: closing a silent WebSocket (no answer to a ping within wsPingTimeoutMs)', { clientId: s.clientId, uid: s.uid });
          s.socket.terminate();
        }
      } else if (now - s.udt >= idleMs) {
        s.socket.send(this.packedPing);
        if (timeoutMs > 0) s.pingedAt = now;
        else s.udt = now;
      }
    }
  }

  /** Stops the keep-alive (server close; the registry closes the sockets that are its channels). */
  close(): void {
    this.keepAlive?.unsubscribe();
    this.keepAlive = null;
    // Sockets not yet handshaken (waiting for the broker's interest or a log read) are nobody's channel yet.
    for (const s of this.live) if (s.conn.ch === null && s.open) s.close(CloseCode.GOING_AWAY, ProtocolCloseReason.SERVER_CLOSING);
  }
}
