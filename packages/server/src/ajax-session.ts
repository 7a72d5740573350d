/**
 * Ajax sessions: handshakes and long-polls (a held poll is the client's channel until it is
 * answered, abandoned or `lpTimeoutMs` passes), and POSTed events with their replies.
 */
import {
  ContentType,
  Envelopes,
  type KindedEnvelope,
  type Packed,
  packedContentType,
  packEnvelope,
  packHandshake,
  Query,
  type HandshakeRecovery,
  type Position,
  type PositionQuery,
  type Uid,
  classifyClientMessage,
} from '@sente-rx/core';
import { type SchedulerLike, type Subscription, timer } from 'rxjs';
import { type CoreContext, onceReply, packReply, type ServerChan, uidOf } from './channel.js';
import { advancePast, logReplaced, type Outbox } from './outbox.js';
import { advance } from './recovery.js';
import type { RecoveryStarts } from './recovery-start.js';
import { REPLY } from './requests.js';
import { Conn, type Registry } from './registry.js';
import type { AjaxResponder, RequestInfo, RequestView } from './types.js';

/** What a held poll needs of the sessions it belongs to. */
interface PollHost {
  readonly scheduler: SchedulerLike;
  readonly registry: Registry;
  readonly contentType: string;
  readonly packedLpTimeout: Packed;
  hold(poll: HeldPoll): void;
  release(poll: HeldPoll): void;
}

/** A held poll, as a channel: it takes one push (or ends with `chsk/timeout`), then the client polls again. */
class HeldPoll implements ServerChan {
  /** When `lpTimeoutMs` ends for it (the host's one timer answers it then). */
  readonly due: number;

  constructor(
    private readonly ajax: PollHost,
    private readonly conn: Conn,
    private readonly res: AjaxResponder,
    lpTimeoutMs: number,
  ) {
    this.due = ajax.scheduler.now() + lpTimeoutMs;
    ajax.hold(this);
    res.onAbort(() => this.end());
  }

  get open(): boolean {
    return !this.res.done;
  }

  send(packed: Packed): boolean {
    if (this.res.done) return false;
    this.res.respond(200, packed, this.ajax.contentType);
    this.end();
    return true;
  }

  /** Ends the poll without events (the client polls again at once); the code does not apply. */
  close(): void {
    if (!this.res.done) this.res.respond(200, this.ajax.packedLpTimeout, this.ajax.contentType);
    this.end();
  }

  private end(): void {
    this.ajax.release(this);
    this.ajax.registry.channelEnded(this.conn, this);
  }
}

/** Every Ajax request of one server. */
export class AjaxSessions<TReq> implements PollHost {
  readonly packedLpTimeout: Packed;
  readonly contentType: string;
  /** Recovery reads in progress, per connection, with the request they answer. */
  private readonly reading = new Map<Conn, { readonly res: AjaxResponder }>();
  /** POSTs still waiting for their reply; `close()` answers them. */
  private readonly heldPosts = new Set<() => void>();
  /**
   * Held polls in the order they were taken, which is the order their `lpTimeoutMs` ends (one
   * duration for all): one scheduler action, set for the oldest, answers them instead of a timer per poll.
   */
  private readonly holding = new Set<HeldPoll>();
  private expiry: Subscription | null = null;

  constructor(
    private readonly ctx: CoreContext<TReq>,
    readonly registry: Registry,
    private readonly outbox: Outbox,
    private readonly recovery: RecoveryStarts,
  ) {
    this.packedLpTimeout = packEnvelope(ctx.packer, Envelopes.lpTimeout());
    this.contentType = packedContentType(ctx.packer.binary, 'server', ctx.packer.senteFormat === true);
  }

  get scheduler(): SchedulerLike {
    return this.ctx.scheduler;
  }

  hold(poll: HeldPoll): void {
    this.holding.add(poll);
    this.expiry ??= this.ctx.scheduler.schedule(() => this.expire(), Math.max(0, poll.due - this.ctx.scheduler.now()));
  }

  release(poll: HeldPoll): void {
    if (!this.holding.delete(poll) || this.holding.size > 0) return;
    this.expiry?.unsubscribe();
    this.expiry = null;
  }

  /** Answers `chsk/timeout` to every held poll whose `lpTimeoutMs` ended; the action is set again for the next. */
  private expire(): void {
    this.expiry = null;
    const now = this.ctx.scheduler.now();
    for (const poll of this.holding) {
      if (poll.due > now) {
        this.expiry = this.ctx.scheduler.schedule(() => this.expire(), poll.due - now);
        return;
      }
      poll.close(); // releases it
    }
  }

  /** The uid of an Ajax request, or `undefined` after answering 500 when `userId` threw. */
  private uid(req: TReq, clientId: string, res: AjaxResponder): Uid | undefined {
    try {
      return uidOf(this.ctx, req, clientId);
    } catch (err) {
      this.ctx.logger.error('sente-rx: userId threw during an Ajax request', { err, clientId });
      res.respond(500, 'Internal server error', ContentType.PLAIN);
      return undefined;
    }
  }

  /** A GET that passed the pipeline: a handshake, or a long-poll. */
  get(view: RequestView, clientId: string, req: TReq, info: RequestInfo, res: AjaxResponder): void {
    const { ctx, registry } = this;
    const uid = this.uid(req, clientId, res);
    if (uid === undefined) return;
    const existing = registry.get('ajax', uid, clientId);
    const wantsHandshake = view.query.has(Query.HANDSHAKE) || view.query.has(Query.HANDSHAKE_ALT);
    const q = this.recovery.query(view);
    if (q.kind === 'position' && !wantsHandshake && existing !== undefined && this.resumes(existing, q.position)) {
      this.poll(existing, info, res);
      return;
    }
    if (q.kind === 'position' || q.kind === 'invalid' || (q.kind === 'none' && (wantsHandshake || existing === undefined))) {
      this.recoveryGet(uid, clientId, req, info, res, q, existing, wantsHandshake);
      return;
    }
    if (wantsHandshake || existing === undefined) {
      let hs: Packed;
      try {
        hs = packHandshake(ctx.packer, uid, ctx.options.handshakeData(req), existing === undefined);
      } catch (err) {
        ctx.logger.error('sente-rx: handshakeData threw or could not be packed', { err, clientId });
        res.respond(500, 'Internal server error', ContentType.PLAIN);
        return;
      }
      const conn = new Conn('ajax', uid, clientId, info);
      if (existing !== undefined) {
        conn.pending = existing.pending;
        conn.polled = existing.polled;
        this.detach(existing);
      }
      const interest = registry.register(conn);
      if (interest === undefined) {
        res.respond(200, hs, this.contentType);
        registry.startGrace(conn);
        return;
      }
      // As a WebSocket's (ws-session.ts): the handshake waits until the broker's interest in uid is live.
      const answer = (): void => {
        if (!res.done) {
          if (ctx.closing) res.respond(503, 'Service unavailable: the server is closing', ContentType.PLAIN);
          else res.respond(200, hs, this.contentType);
        }
        if (!ctx.closing && registry.get('ajax', uid, clientId) === conn && conn.ch === null) registry.startGrace(conn);
      };
      void interest.then(answer, answer);
      return;
    }
    this.poll(existing, info, res);
  }

  /**
   * Whether a recovery poll (PROTOCOL.md §11.5) may skip the log: this node answered every poll of
   * `conn` since its last log read, and the client presents exactly the position those answers
   * brought it to. Then everything it lacks is in `conn.pending` or still in the uid's send buffer
   * (the connection stayed registered, so every delivery since went there), as on a WebSocket.
   */
  private resumes(conn: Conn, from: Position): boolean {
    const p = conn.lpPos;
    if (p === null || p.epoch !== from.epoch || p.u !== from.u || p.g !== from.g || conn.epoch !== from.epoch || this.reading.has(conn)) return false;
    return conn.pending === null || !logReplaced(conn.pending, from.epoch);
  }

  /** A poll of a known connection: answered with what is pending for it, else held. */
  private poll(conn: Conn, info: RequestInfo, res: AjaxResponder): void {
    const { registry } = this;
    this.detach(conn);
    conn.request = info;
    conn.polled = true;
    const items = conn.pending;
    const pending = this.outbox.takePending(conn);
    if (pending !== undefined) {
      if (conn.lpPos !== null && items !== null) conn.lpPos = advancePast(conn.lpPos, items);
      res.respond(200, pending, this.contentType);
      registry.startGrace(conn);
    } else {
      conn.ch = new HeldPoll(this, conn, res, this.ctx.options.lpTimeoutMs);
    }
    registry.updatePresence(conn.uid, conn);
  }

  /**
   * A GET of a client that announced recovery (PROTOCOL.md §11.5). A poll with a position is
   * answered from the log merged with what this node holds, so any node can serve it, even one that
   * never saw the client (no sticky sessions); a handshake (or a poll whose log has a gap) gets the
   * handshake with the recovery element. The connection holds no channel while the log is read.
   */
  private recoveryGet(
    uid: Uid,
    clientId: string,
    req: TReq,
    info: RequestInfo,
    res: AjaxResponder,
    q: Exclude<PositionQuery, { kind: 'absent' }>,
    existing: Conn | undefined,
    wantsHandshake: boolean,
  ): void {
    const { ctx, registry } = this;
    const from = q.kind === 'position' && !wantsHandshake ? q.position : undefined;
    let conn: Conn;
    const token = { res };
    /** A handshake's connection replaces the existing one (taking over its queue) once the head is read. */
    const register = (): boolean => {
      if (ctx.closing || res.done) return false;
      const old = registry.get('ajax', uid, clientId);
      if (old !== undefined) {
        conn.pending = old.pending;
        conn.polled = old.polled;
        this.detach(old);
      }
      registry.register(conn);
      this.reading.set(conn, token);
      return true;
    };
    if (from !== undefined && existing !== undefined) {
      conn = existing;
      this.detach(conn);
      conn.request = info;
    } else conn = new Conn('ajax', uid, clientId, info);
    if (from !== undefined) {
      if (conn !== existing) registry.register(conn);
      conn.polled = true;
      registry.updatePresence(uid, conn);
      this.reading.set(conn, token);
    }
    const current = (): boolean => {
      if (ctx.closing || registry.get('ajax', uid, clientId) !== conn || this.reading.get(conn) !== token) return false;
      if (!res.done) return true;
      this.reading.delete(conn); // the client gave up on this request
      if (conn.ch === null) registry.startGrace(conn);
      return false;
    };
    const handshake = (recovery: HandshakeRecovery, first: boolean): void => {
      conn.epoch = recovery.position.epoch;
      conn.lpPos = null; // the replay after a handshake comes from the log
      let hs: Packed;
      try {
        hs = packHandshake(ctx.packer, uid, ctx.options.handshakeData(req), first, recovery);
      } catch (err) {
        ctx.logger.error('sente-rx: handshakeData threw or could not be packed', { err, clientId });
        res.respond(500, 'Internal server error', ContentType.PLAIN);
        registry.startGrace(conn);
        return;
      }
      res.respond(200, hs, this.contentType);
      registry.startGrace(conn);
    };
    const failed = (): void => {
      this.reading.delete(conn);
      res.respond(503, 'Service unavailable: the recovery log cannot be read', ContentType.PLAIN);
      registry.startGrace(conn);
    };
    if (from === undefined) {
      const first = existing === undefined;
      this.recovery.start(conn, q, {
        register,
        current,
        apply: (plan) => {
          this.reading.delete(conn);
          handshake(plan.recovery, first);
        },
        failed,
      });
      return;
    }
    this.recovery.poll(conn, from, current, (plan) => {
      this.reading.delete(conn);
      if (plan.kind === 'gap') {
        handshake(plan.recovery, false);
        return;
      }
      conn.epoch = from.epoch;
      conn.pending = null;
      const batch = this.outbox.packEntries(conn, plan.entries);
      if (batch !== undefined) {
        conn.lpPos = advance(from, plan.entries);
        res.respond(200, batch, this.contentType);
        registry.startGrace(conn);
      } else {
        conn.lpPos = from;
        conn.ch = new HeldPoll(this, conn, res, ctx.options.lpTimeoutMs);
      }
    }, failed);
  }

  /** Stops `conn`'s grace period and ends the poll it holds, if any (a newer request replaces it). */
  private detach(conn: Conn): void {
    const reading = this.reading.get(conn);
    if (reading !== undefined) {
      // A recovery read in progress for an older request: answer it, the newer one takes over.
      this.reading.delete(conn);
      if (!reading.res.done) reading.res.respond(200, this.packedLpTimeout, this.contentType);
    }
    this.registry.stopGrace(conn);
    const held = conn.ch;
    conn.ch = null; // first, so the old poll's end does not start a grace period
    held?.close(0, '');
  }

  /** A POST that passed the pipeline: one event, answered at once or with its reply. */
  post(clientId: string, req: TReq, info: RequestInfo, body: Packed, res: AjaxResponder): void {
    const { ctx } = this;
    const { packer } = ctx;
    let value: unknown;
    try {
      value = packer.unpack(body);
    } catch {
      ctx.logger.warn('sente-rx: refused an Ajax POST whose body does not unpack', { clientId });
      res.respond(400, 'Bad request: the body does not unpack', ContentType.PLAIN);
      return;
    }
    const msg = classifyClientMessage(value);
    if (msg.kind === 'bad-event' && msg.event?.[0] === REPLY && msg.cbId === null) {
      // A reply to a server→client request (requests.ts): acknowledged like any event without a cbId.
      const uid = this.uid(req, clientId, res);
      if (uid === undefined) return;
      res.respond(200, packEnvelope(packer, Envelopes.dummyCb200()), this.contentType);
      ctx.clientReply({ uid, clientId }, msg.event[1]);
      return;
    }
    if (msg.kind !== 'event') {
      // Over Ajax the keep-alive events are reserved ids like any other: the client never sends them.
      const reason = msg.kind === 'ping' || msg.kind === 'pong' ? `reserved event id ${msg.event[0]}` : msg.reason;
      ctx.logger.warn('sente-rx: refused an invalid Ajax POST', { clientId, reason });
      res.respond(400, `Bad request: ${reason.slice(0, 200)}`, ContentType.PLAIN);
      return;
    }
    const uid = this.uid(req, clientId, res);
    if (uid === undefined) return;
    const { event, cbId } = msg;
    const from = this.registry.get('ajax', uid, clientId) ?? { uid, clientId };
    if (cbId === null) {
      res.respond(200, packEnvelope(packer, Envelopes.dummyCb200()), this.contentType);
      ctx.emit(from, event, info);
      return;
    }
    let lpTimer: Subscription | null = null;
    const answer = onceReply(ctx.logger, (e: KindedEnvelope) => {
      this.heldPosts.delete(onServerClose);
      lpTimer?.unsubscribe();
      if (!res.done) res.respond(200, packReply(ctx, e, clientId), this.contentType);
    });
    const reply = (v: unknown): void => answer(Envelopes.reply(v, null));
    // close() answers a POST still waiting for its reply, so the client's request fails at once.
    const onServerClose = (): void => answer(Envelopes.closed(null));
    this.heldPosts.add(onServerClose);
    lpTimer = timer(ctx.options.lpTimeoutMs, ctx.scheduler).subscribe(() => answer(Envelopes.lpTimeout()));
    res.onAbort(() => {
      lpTimer?.unsubscribe();
      this.heldPosts.delete(onServerClose);
    });
    ctx.emit(from, event, info, reply);
  }

  /** Answers every POST still waiting for its reply (server close). */
  close(): void {
    this.expiry?.unsubscribe();
    this.expiry = null;
    for (const { res } of this.reading.values()) if (!res.done) res.respond(503, 'Service unavailable: the server is closing', ContentType.PLAIN);
    this.reading.clear();
    for (const answer of [...this.heldPosts]) answer();
  }
}
