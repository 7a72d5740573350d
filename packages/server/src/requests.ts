/**
 * Server→client requests (WIRE-REQUESTS.md; PROTOCOL.md §8): the asking side (pending requests,
 * their timeouts on the scheduler, the Observable each returns) and the answering side (requests
 * dispatched to a client this node holds, and that client's `chsk/reply`). Both go through the
 * broker, so in a cluster the node that asks and the node that holds the client may differ.
 *
 * Wire: the request travels inside a push batch as `["chsk/req", [reqId, [id, data]]]`; the client
 * answers with the event `["chsk/reply", [reqId, value]]` or `["chsk/reply", [reqId, null,
 * "chsk/error", issues?]]`, without a cbId. `reqId` is this node's own (a dispatched request's
 * wire id), so requests of two asking nodes to one client cannot collide.
 */
import { type ChskEvent, ChskError, type Logger, ReservedId, sanitizeIssues, type Uid } from '@sente-rx/core';
import { AsyncSubject, Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { type Broker, type BrokerOutcome, type BrokerReply, type BrokerRequest, outcomeError } from './broker.js';

/** The reserved ids of the request wire (defined with the rest of the protocol in core). */
export const REQ = ReservedId.REQUEST;
export const REPLY = ReservedId.REPLY;
/** The push entry that carries a refused client request's validation issues just before its `chsk/error` reply (WebSocket). */
export const ISSUES = ReservedId.ISSUES;


interface Pending {
  readonly result: AsyncSubject<unknown>;
  readonly timer: Subscription;
  readonly eventId: string;
}

interface Dispatched {
  readonly req: BrokerRequest;
  readonly key: string;
  readonly timer: Subscription;
}

/** Checks a reply value against the contract (the asking node's); `undefined` when there is none. */
export type ReplyCheck = (eventId: string, value: unknown) => { ok: true; value: unknown } | { ok: false; error: ChskError } | undefined;

const clientKey = (uid: Uid, clientId: string): string => `${uid}\u0000${clientId}`;

export class Requests {
  private readonly pending = new Map<string, Pending>();
  private readonly dispatched = new Map<string, Dispatched>();
  private readonly byClient = new Map<string, Set<string>>();
  private seq = 0;
  private wireSeq = 0;

  constructor(
    private readonly nodeId: string,
    private readonly broker: Broker,
    private readonly scheduler: SchedulerLike,
    private readonly logger: Logger,
    private readonly checkReply: ReplyCheck,
  ) {}

  /** Requests this node is waiting on. */
  get size(): number {
    return this.pending.size;
  }

  // ---- the asking side -----------------------------------------------------------------------

  /**
   * Registers a request, hands it to the broker at once (eager) and returns its outcome: the
   * reply, or `chsk/timeout` after `timeoutMs`, `chsk/closed`, `chsk/error`. Unsubscribing before
   * the outcome drops the entry; a late reply is then ignored.
   */
  ask(uid: Uid, clientId: string, event: ChskEvent, timeoutMs: number): Observable<unknown> {
    const id = (++this.seq).toString(36);
    const result = new AsyncSubject<unknown>();
    const timer = this.scheduler.schedule(() => this.settle(id, { ok: false, code: 'chsk/timeout', message: 'no reply within timeoutMs' }), timeoutMs);
    this.pending.set(id, { result, timer, eventId: event[0] });
    this.broker.request({ id, from: this.nodeId, uid, clientId, event, timeoutMs });
    return new Observable<unknown>((subscriber) => {
      const sub = result.subscribe(subscriber);
      return () => {
        sub.unsubscribe();
        const p = this.pending.get(id);
        if (p?.result === result && !result.observed) {
          p.timer.unsubscribe();
          this.pending.delete(id);
        }
      };
    });
  }

  /** The broker's `reply`: the outcome of a request this node asked. */
  onReply(rep: BrokerReply): void {
    this.settle(rep.id, rep.outcome);
  }

  private settle(id: string, outcome: BrokerOutcome): void {
    const p = this.pending.get(id);
    if (p === undefined) {
      this.logger.debug('sente-rx: ignored the outcome of a request nobody waits for (late, or unsubscribed)', { id });
      return;
    }
    this.pending.delete(id);
    p.timer.unsubscribe();
    if (!outcome.ok) {
      p.result.error(outcomeError(outcome));
      return;
    }
    const checked = this.checkReply(p.eventId, outcome.value);
    if (checked !== undefined && !checked.ok) {
      this.logger.warn('sente-rx: a client replied with a value the contract refuses', { id: p.eventId, error: checked.error.message });
      p.result.error(checked.error);
      return;
    }
    p.result.next(checked === undefined ? outcome.value : checked.value);
    p.result.complete();
  }

  // ---- the answering side --------------------------------------------------------------------

  /**
   * A request for a client this node holds: remembers it under a fresh wire id (dropped after
   * `timeoutMs`, when the asker has given up) and returns the push entry to send the client.
   */
  dispatch(req: BrokerRequest): ChskEvent {
    const wireId = `q${(++this.wireSeq).toString(36)}`;
    const key = clientKey(req.uid, req.clientId);
    const timer = this.scheduler.schedule(() => this.forget(wireId), req.timeoutMs);
    this.dispatched.set(wireId, { req, key, timer });
    let set = this.byClient.get(key);
    if (set === undefined) this.byClient.set(key, (set = new Set()));
    set.add(wireId);
    return [REQ, [wireId, req.event]];
  }

  private forget(wireId: string): Dispatched | undefined {
    const d = this.dispatched.get(wireId);
    if (d === undefined) return undefined;
    this.dispatched.delete(wireId);
    d.timer.unsubscribe();
    const set = this.byClient.get(d.key);
    set?.delete(wireId);
    if (set?.size === 0) this.byClient.delete(d.key);
    return d;
  }

  /**
   * A client's `["chsk/reply", payload]`. Only the client the request went to may answer it; an
   * unknown or late reqId, or a malformed payload, is logged and ignored.
   */
  clientReply(uid: Uid, clientId: string, payload: unknown): void {
    if (!Array.isArray(payload) || typeof payload[0] !== 'string') {
      this.logger.warn('sente-rx: ignored a malformed chsk/reply', { uid, clientId });
      return;
    }
    const wireId = payload[0];
    const d = this.dispatched.get(wireId);
    if (d === undefined || d.key !== clientKey(uid, clientId)) {
      this.logger.debug('sente-rx: ignored a chsk/reply for no request of this client (late, or unknown reqId)', { uid, clientId, reqId: wireId.slice(0, 64) });
      return;
    }
    this.forget(wireId);
    let outcome: BrokerOutcome;
    if (payload.length >= 3 && payload[2] === 'chsk/error') {
      const issues = sanitizeIssues(payload[3]);
      outcome = { ok: false, code: 'chsk/error', message: 'the client refused or failed the request', ...(issues === undefined ? {} : { issues }) };
    } else {
      outcome = { ok: true, value: payload[1] };
    }
    this.broker.reply({ id: d.req.id, to: d.req.from, outcome });
  }

  /** A client left for good (grace expired): its requests fail with `chsk/closed`. */
  clientGone(uid: Uid, clientId: string): void {
    const set = this.byClient.get(clientKey(uid, clientId));
    if (set === undefined) return;
    for (const wireId of [...set]) {
      const d = this.forget(wireId);
      if (d !== undefined) this.broker.reply({ id: d.req.id, to: d.req.from, outcome: { ok: false, code: 'chsk/closed', message: 'the client left before replying' } });
    }
  }

  /** Server close: requests to this node's clients fail with `chsk/closed` at their askers, then this node's own. */
  close(): void {
    for (const wireId of [...this.dispatched.keys()]) {
      const d = this.forget(wireId);
      if (d !== undefined) this.broker.reply({ id: d.req.id, to: d.req.from, outcome: { ok: false, code: 'chsk/closed', message: 'the server closed' } });
    }
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      p.timer.unsubscribe();
      p.result.error(new ChskError('chsk/closed', 'the server closed before the reply'));
    }
  }
}
