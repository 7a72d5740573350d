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
  ReservedId,
  type Uid,
  classifyClientMessage,
} from '@sente-rx/core';
import { type SchedulerLike, type Subscription, timer } from 'rxjs';
import { type BrokerLog, formatPosition, type LogPollHost, LogPoll, type LogPosition, parsePosition } from './ajax-positions.js';
import { type CoreContext, onceReply, packReply, type ServerChan, uidOf } from './channel.js';
import type { Outbox } from './outbox.js';
import { REPLY } from './requests.js';
import { Conn, type Registry } from './registry.js';
import type { AjaxResponder, RequestInfo, RequestView } from './types.js';

/** What a held poll needs of the sessions it belongs to. */
interface PollHost {
  readonly scheduler: SchedulerLike;
  readonly registry: Registry;
  readonly contentType: string;
  readonly packedLpTimeout: Packed;
}

/** A held poll, as a channel: it takes one push (or ends with `chsk/timeout`), then the client polls again. */
class HeldPoll implements ServerChan {
  private readonly timer: Subscription;

  constructor(
    private readonly ajax: PollHost,
    private readonly conn: Conn,
    private readonly res: AjaxResponder,
    lpTimeoutMs: number,
  ) {
    this.timer = timer(lpTimeoutMs, ajax.scheduler).subscribe(() => this.close());
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
    this.timer.unsubscribe();
    this.ajax.registry.channelEnded(this.conn, this);
  }
}

/** Every Ajax request of one server. */
export class AjaxSessions<TReq> implements PollHost {
  readonly packedLpTimeout: Packed;
  readonly contentType: string;
  /** POSTs still waiting for their reply; `close()` answers them. */
  private readonly heldPosts = new Set<() => void>();

  constructor(
    private readonly ctx: CoreContext<TReq>,
    readonly registry: Registry,
    private readonly outbox: Outbox,
    /** The broker's log, when it has one: Ajax positions (ajax-positions.ts). */
    private readonly log?: BrokerLog,
  ) {
    this.packedLpTimeout = packEnvelope(ctx.packer, Envelopes.lpTimeout());
    this.contentType = packedContentType(ctx.packer.binary, 'server', ctx.packer.senteFormat === true);
  }

  get scheduler(): SchedulerLike {
    return this.ctx.scheduler;
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
    const position = this.log === undefined || wantsHandshake ? undefined : parsePosition(view.query.get(Query.POSITION));
    if (position !== undefined && this.log !== undefined) return this.logPoll(this.log, existing, uid, clientId, info, position, res);
    if (wantsHandshake || existing === undefined) {
      if (this.log !== undefined) return this.logHandshake(this.log, existing, uid, clientId, req, info, res);
      let hs: Packed;
      try {
        hs = packHandshake(ctx.packer, uid, ctx.options.handshakeData(req), existing === undefined);
      } catch (err) {
        ctx.logger.error('sente-rx: handshakeData threw or could not be packed', { err, clientId });
        res.respond(500, 'Internal server error', ContentType.PLAIN);
        return;
      }
      const conn = this.handshakeConn(existing, uid, clientId, info);
      res.respond(200, hs, this.contentType);
      registry.startGrace(conn);
      return;
    }
    const conn = existing;
    this.detach(conn);
    conn.request = info;
    conn.polled = true;
    conn.fromLog = false; // a poll without a position: this node's pending queue again
    const pending = this.outbox.takePending(conn);
    if (pending !== undefined) {
      res.respond(200, pending, this.contentType);
      registry.startGrace(conn);
    } else {
      conn.ch = new HeldPoll(this, conn, res, ctx.options.lpTimeoutMs);
    }
    registry.updatePresence(uid, conn);
  }

  // ---- Ajax positions (ajax-positions.ts): answers from the broker's log ------------------------

  /** A handshake that also tells the client where the uid's log stands (the 5th element). */
  private logHandshake(log: BrokerLog, existing: Conn | undefined, uid: Uid, clientId: string, req: TReq, info: RequestInfo, res: AjaxResponder): void {
    const { ctx, registry } = this;
    let data: unknown;
    try {
      data = ctx.options.handshakeData(req);
    } catch (err) {
      ctx.logger.error('sente-rx: handshakeData threw', { err, clientId });
      res.respond(500, 'Internal server error', ContentType.PLAIN);
      return;
    }
    // Not `fromLog` yet: a client that never sends a position (an older one) keeps the pending queue.
    registry.startGrace(this.handshakeConn(existing, uid, clientId, info));
    const first = existing === undefined;
    log.head(uid).then(
      (head) => this.respondHandshake(res, uid, data, first, formatPosition(head), clientId),
      (err: unknown) => {
        ctx.logger.warn('sente-rx: the broker log could not be read for a handshake; the client polls without a position', { uid, clientId, err });
        this.respondHandshake(res, uid, data, first, undefined, clientId);
      },
    );
  }

  private respondHandshake(res: AjaxResponder, uid: Uid, data: unknown, first: boolean, position: string | undefined, clientId: string): void {
    if (res.done) return;
    try {
      const { packer } = this.ctx;
      // The position is a 5th element (PROTOCOL.md §4.1); Sente's formats keep Sente's exact handshake.
      const packed =
        position === undefined || packer.senteFormat === true
          ? packHandshake(packer, uid, data, first)
          : packEnvelope(packer, { value: [[ReservedId.HANDSHAKE, [uid, null, data ?? null, first, position]], null], kind: 'handshake' });
      res.respond(200, packed, this.contentType);
    } catch (err) {
      this.ctx.logger.error('sente-rx: handshakeData could not be packed', { err, clientId });
      res.respond(500, 'Internal server error', ContentType.PLAIN);
    }
  }

  /** A poll with a position: held here and answered from the log, whether or not this node has seen the client. */
  private logPoll(log: BrokerLog, existing: Conn | undefined, uid: Uid, clientId: string, info: RequestInfo, from: LogPosition, res: AjaxResponder): void {
    const { registry } = this;
    let conn = existing;
    if (conn === undefined) {
      conn = new Conn('ajax', uid, clientId, info);
      registry.register(conn);
    } else this.detach(conn);
    conn.fromLog = true;
    conn.pending = null; // the log is this client's queue
    conn.request = info;
    conn.polled = true;
    const c = conn;
    const host: LogPollHost = {
      scheduler: this.ctx.scheduler,
      packer: this.ctx.packer,
      logger: this.ctx.logger,
      contentType: this.contentType,
      packedLpTimeout: this.packedLpTimeout,
      log,
      ended: (poll) => registry.channelEnded(c, poll),
    };
    conn.ch = new LogPoll(host, uid, clientId, from, res, this.ctx.options.lpTimeoutMs);
    registry.updatePresence(uid, conn);
  }

  /** The connection of a handshake, registered: it takes over `existing`'s pending events and polled state. */
  private handshakeConn(existing: Conn | undefined, uid: Uid, clientId: string, info: RequestInfo): Conn {
    const conn = new Conn('ajax', uid, clientId, info);
    if (existing !== undefined) {
      conn.pending = existing.pending;
      conn.polled = existing.polled;
      this.detach(existing);
    }
    this.registry.register(conn);
    return conn;
  }

  /** Stops `conn`'s grace period and ends the poll it holds, if any (a newer request replaces it). */
  private detach(conn: Conn): void {
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
    for (const answer of [...this.heldPosts]) answer();
  }
}
