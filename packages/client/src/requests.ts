/**
 * The request manager: callback ids, the pending map, settling, and the one place a request's
 * `ChskError` is built. It knows nothing of transports: `request` takes the function that hands
 * the event to the network.
 */
import { ChskError, type ChskErrorCode, describeIssues, isReplyErrorValue, type Logger, ReservedId, sanitizeIssues, type ValidationIssue } from '@sente-rx/core';
import { Observable, type SchedulerLike, type Subscriber, type Subscription, type TeardownLogic } from 'rxjs';

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

const WAITING = 0;
const REPLIED = 1;
const FAILED = 2;

const deliver = (sub: Subscriber<unknown>, p: Pending): void => {
  if (p.state === REPLIED) {
    sub.next(p.value);
    sub.complete();
  } else sub.error(p.value);
};

/** What a `Pending` needs of the manager that made it, when a subscriber comes or leaves. */
interface Table {
  readonly pending: () => PendingSet;
  readonly leave: (p: Pending, sub: Subscriber<unknown>) => void;
}

/**
 * One request, who waits for it, and the Observable `send` returns for it: the entry is the
 * Observable (its subscribe function is shared, `this` being the entry), so a request allocates
 * no Observable and no subscribe closure of its own. The outcome lives on the entry itself (no
 * outcome object, no subscriber array for the usual single subscriber): a reply costs no
 * allocation here.
 */
class Pending extends Observable<unknown> {
  /** `WAITING`, then `REPLIED` (value: the reply) or `FAILED` (value: the ChskError); what a later subscriber gets. */
  state = WAITING;
  value: unknown = undefined;
  /** The first subscriber still waiting, and any others (an eager request may be subscribed several times). */
  first: Subscriber<unknown> | null = null;
  more: Subscriber<unknown>[] | null = null;
  /** The validation issues the server sent for this request (`chsk/issues`), for its `chsk/error` reply. */
  issues: readonly ValidationIssue[] | undefined = undefined;
  constructor(
    readonly table: Table,
    readonly cbId: string,
    /** When it times out (scheduler ms). */
    readonly due: number,
  ) {
    super(subscribePending);
  }
}

/** The subscribe function of every `Pending`; RxJS calls it with `this` the Observable subscribed to. */
function subscribePending(this: Observable<unknown>, subscriber: Subscriber<unknown>): TeardownLogic {
  const p = this as Pending;
  if (p.state !== WAITING) {
    deliver(subscriber, p);
    return undefined;
  }
  if (p.table.pending().get(p.cbId) !== p) {
    // every earlier subscriber left before the outcome, which dropped the request
    subscriber.error(closedError());
    return undefined;
  }
  if (p.first === null && p.more === null) p.first = subscriber;
  else (p.more ??= []).push(subscriber);
  return () => p.table.leave(p, subscriber);
}

/**
 * A request `open` registered: its cbId, to send it under, and itself its outcome: the reply, or
 * a `chsk/timeout` after `timeoutMs`, `chsk/error` when settled so, `chsk/closed` on `failAll`.
 * Unsubscribing before the outcome drops the entry.
 */
export interface OpenRequest extends Observable<unknown> {
  readonly cbId: string;
}

export interface Requests {
  /** Requests waiting for their outcome. */
  readonly size: number;
  /**
   * Registers a request under a fresh cbId (eager: its timeout runs from now). The caller sends
   * it under `cbId` and, when that fails, settles it `chsk/error`.
   */
  open(timeoutMs: number): OpenRequest;
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
 * The pending requests by cbId: the oldest in a slot of its own, the rest in a Map made when a
 * second one waits. An app (and the keep-alive) mostly has one request out at a time, and a Map
 * that empties on every reply shrinks, which V8 does in a runtime call that allocates a new table:
 * that `delete` was the costliest line of a request/reply. The slot holds the oldest entry, so
 * `list()` is in the order the requests were opened.
 */
class PendingSet {
  one: Pending | null = null;
  many: Map<string, Pending> | null = null;
  get size(): number {
    return (this.one === null ? 0 : 1) + (this.many === null ? 0 : this.many.size);
  }
  get(cbId: string): Pending | undefined {
    const one = this.one;
    return one !== null && one.cbId === cbId ? one : this.many?.get(cbId);
  }
  add(p: Pending): void {
    if (this.one === null && (this.many === null || this.many.size === 0)) this.one = p;
    else (this.many ??= new Map()).set(p.cbId, p);
  }
  delete(p: Pending): void {
    if (this.one === p) this.one = null;
    else this.many?.delete(p.cbId);
  }
  /** A snapshot, oldest first. */
  list(): Pending[] {
    const all = this.many === null ? [] : [...this.many.values()];
    if (this.one !== null) all.unshift(this.one);
    return all;
  }
}

/**
 * One map of pending requests and one scheduler action for all their timeouts (set for the
 * earliest; it settles what is due and re-arms for the next), instead of a Subject and a timer each.
 */
export function createRequests(scheduler: SchedulerLike, logger: Logger): Requests {
  let pending = new PendingSet();
  let seq = 0;
  let sweep: Subscription | null = null;
  let sweepAt = Infinity;

  const finish = (p: Pending, state: typeof REPLIED | typeof FAILED, value: unknown): void => {
    p.state = state;
    p.value = value;
    const { first, more } = p;
    p.first = p.more = null;
    if (first !== null) deliver(first, p);
    if (more !== null) for (const sub of more) deliver(sub, p);
  };
  const settle = (cbId: string, value: unknown): void => {
    const p = pending.get(cbId);
    if (p === undefined) {
      logger.debug('sente-rx: ignored a reply with no waiting request (late, or unknown cbId)', { cbId });
      return;
    }
    pending.delete(p);
    if (!isReplyErrorValue(value)) finish(p, REPLIED, value);
    else finish(p, FAILED, value === ReservedId.ERROR && p.issues !== undefined ? refusedError(p.issues) : requestError(value));
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
    for (const p of pending.list()) {
      if (p.due <= now) settle(p.cbId, 'chsk/timeout');
      else if (p.due < next) next = p.due;
    }
    if (next !== Infinity) arm(next);
  }

  /** A subscriber left: once none waits before the outcome, the entry goes; a late reply is ignored. */
  const leave = (p: Pending, sub: Subscriber<unknown>): void => {
    if (p.state !== WAITING) return;
    if (p.first === sub) p.first = null;
    else if (p.more !== null) {
      const i = p.more.indexOf(sub);
      if (i >= 0) p.more.splice(i, 1);
    }
    if (p.first === null && (p.more === null || p.more.length === 0) && pending.get(p.cbId) === p) pending.delete(p);
  };
  const table: Table = { pending: () => pending, leave };

  const open = (timeoutMs: number): Pending => {
    const p = new Pending(table, (++seq).toString(36), scheduler.now() + timeoutMs);
    pending.add(p);
    arm(p.due);
    return p;
  };

  return new RequestTable(
    () => pending.size,
    settle,
    noteIssues,
    open,
    () => {
      const all = pending.list();
      pending = new PendingSet();
      sweep?.unsubscribe();
      sweep = null;
      sweepAt = Infinity;
      const err = closedError();
      for (const p of all) finish(p, FAILED, err);
    },
  );
}

/**
 * The manager's face: a class, so `size` is a getter on the prototype. An object literal with a
 * closure getter is a dictionary-mode object in V8, and `open` and `settle` are looked up on it
 * for every request and every reply.
 */
class RequestTable implements Requests {
  constructor(
    private readonly count: () => number,
    readonly settle: Requests['settle'],
    readonly noteIssues: Requests['noteIssues'],
    readonly open: Requests['open'],
    readonly failAll: Requests['failAll'],
  ) {}
  get size(): number {
    return this.count();
  }
}
