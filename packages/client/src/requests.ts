/**
 * The request manager: callback ids, the pending map, settling, and the one place a request's
 * `ChskError` is built. It knows nothing of transports: `request` takes the function that hands
 * the event to the network.
 */
import { ChskError, type ChskErrorCode, describeIssues, isReplyErrorValue, type Logger, ReservedId, sanitizeIssues, type ValidationIssue } from '@sente-rx/core';
import { Observable, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';

const MESSAGES = {
  'chsk/timeout': 'no reply within timeoutMs',
  'chsk/closed': 'the channel socket closed before the reply',
  'chsk/error': 'the request failed',
} as const;

type RequestErrorCode = keyof typeof MESSAGES & ChskErrorCode;

/** Every ChskError a send or request errors with. */
export const requestError = (code: RequestErrorCode, message: string = MESSAGES[code]): ChskError => new ChskError(code, message);

/** The `chsk/error` of a request the server refused by its contract, with the issues it sent first (PROTOCOL.md §8). */
const refusedError = (issues: readonly ValidationIssue[]): ChskError =>
  new ChskError('chsk/error', `the server refused the request: ${describeIssues(issues)}`, { issues });

/** Not open, or closed while waiting. */
export const closedError = (): ChskError => requestError('chsk/closed', 'the channel socket is closed');

/** A request's outcome: the reply, or the error. */
interface Outcome {
  readonly ok: boolean;
  readonly value: unknown;
}

/** One request, and who waits for it. */
interface Pending {
  /** When it times out (scheduler ms). */
  readonly due: number;
  /** Subscribers of the request's observable still waiting. */
  readonly subs: Subscriber<unknown>[];
  /** Set once settled: what a later subscriber gets (an eager request may be subscribed late). */
  outcome: Outcome | null;
  /** The validation issues the server sent for this request (`chsk/issues`), for its `chsk/error` reply. */
  issues?: readonly ValidationIssue[];
}

export interface Requests {
  /** Requests waiting for their outcome. */
  readonly size: number;
  /**
   * Registers a request under a fresh cbId, hands it to `send` at once (eager) and returns its
   * outcome: the reply, or a `chsk/timeout` after `timeoutMs`, `chsk/error` when `send` returns
   * false, `chsk/closed` on `failAll`. Unsubscribing before the outcome drops the entry.
   */
  request(send: (cbId: string) => boolean, timeoutMs: number): Observable<unknown>;
  /** A reply (or a reserved failure value) for `cbId`; unknown and late ones are ignored. */
  settle(cbId: string, value: unknown): void;
  /**
   * The data of a `chsk/issues` push entry, `[cbId, issues]`: kept (bounded) on that pending
   * request for the `chsk/error` reply that follows; ignored when no request waits under `cbId`.
   */
  noteIssues(data: unknown): void;
  /** The connection is gone: every pending request fails with `chsk/closed`. */
  failAll(): void;
}

/**
 * One map of pending requests and one scheduler action for all their timeouts (set for the
 * earliest; it settles what is due and re-arms for the next), instead of a Subject and a timer each.
 */
export function createRequests(scheduler: SchedulerLike, logger: Logger): Requests {
  let pending = new Map<string, Pending>();
  let seq = 0;
  let sweep: Subscription | null = null;
  let sweepAt = Infinity;

  const deliver = (sub: Subscriber<unknown>, o: Outcome): void => {
    if (o.ok) {
      sub.next(o.value);
      sub.complete();
    } else sub.error(o.value);
  };
  const finish = (p: Pending, o: Outcome): void => {
    p.outcome = o;
    for (const sub of p.subs.splice(0)) deliver(sub, o);
  };
  const settle = (cbId: string, value: unknown): void => {
    const p = pending.get(cbId);
    if (p === undefined) {
      logger.debug('sente-rx: ignored a reply with no waiting request (late, or unknown cbId)', { cbId });
      return;
    }
    pending.delete(cbId);
    if (!isReplyErrorValue(value)) finish(p, { ok: true, value });
    else finish(p, { ok: false, value: value === ReservedId.ERROR && p.issues !== undefined ? refusedError(p.issues) : requestError(value) });
  };
  const noteIssues = (data: unknown): void => {
    const cbId: unknown = Array.isArray(data) ? data[0] : undefined;
    const p = typeof cbId === 'string' ? pending.get(cbId) : undefined;
    const issues = Array.isArray(data) ? sanitizeIssues(data[1]) : undefined;
    if (p === undefined || issues === undefined || issues.length === 0) {
      logger.debug('sente-rx: ignored chsk/issues with no waiting request (late, unknown cbId, or malformed)', { cbId });
      return;
    }
    p.issues = issues;
  };
  const arm = (due: number): void => {
    if (due >= sweepAt) return;
    sweep?.unsubscribe();
    sweepAt = due;
    sweep = scheduler.schedule(runSweep, Math.max(0, due - scheduler.now()));
  };
  function runSweep(): void {
    sweep = null;
    sweepAt = Infinity;
    const now = scheduler.now();
    let next = Infinity;
    for (const [cbId, p] of pending) {
      if (p.due <= now) settle(cbId, 'chsk/timeout');
      else if (p.due < next) next = p.due;
    }
    if (next !== Infinity) arm(next);
  }

  return {
    get size() {
      return pending.size;
    },
    settle,
    noteIssues,
    request(send, timeoutMs) {
      const cbId = (++seq).toString(36);
      const p: Pending = { due: scheduler.now() + timeoutMs, subs: [], outcome: null };
      pending.set(cbId, p);
      arm(p.due);
      if (!send(cbId)) settle(cbId, 'chsk/error');
      return new Observable<unknown>((subscriber) => {
        if (p.outcome !== null) {
          deliver(subscriber, p.outcome);
          return undefined;
        }
        if (pending.get(cbId) !== p) {
          // every earlier subscriber left before the outcome, which dropped the request
          deliver(subscriber, { ok: false, value: closedError() });
          return undefined;
        }
        p.subs.push(subscriber);
        return () => {
          const i = p.subs.indexOf(subscriber);
          if (i >= 0) p.subs.splice(i, 1);
          // The last subscriber left before the outcome: drop the entry; a late reply is ignored.
          if (p.subs.length === 0 && pending.get(cbId) === p) pending.delete(cbId);
        };
      });
    },
    failAll() {
      const all = pending;
      pending = new Map();
      sweep?.unsubscribe();
      sweep = null;
      sweepAt = Infinity;
      const o: Outcome = { ok: false, value: closedError() };
      for (const p of all.values()) finish(p, o);
    },
  };
}
