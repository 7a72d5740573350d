/**
 * `recv$` with app code isolated (issue 9 item 4): a subscriber that throws, or an operator chain
 * that errors without an error handler, is logged and never reaches the process.
 *
 * Why this is needed: in RxJS 7.8 a throw in a subscriber's `next` is caught by its
 * `ConsumerObserver` and handed to `handleUnhandledError` → `reportUnhandledError`, which calls
 * `config.onUnhandledError` or, by default, rethrows it from a `setTimeout`: an
 * `uncaughtException` that exits Node. The same path takes an `error` notification that reaches a
 * subscriber without an error handler (`recv$.pipe(map(() => { throw … })).subscribe(fn)`).
 * Setting `config.onUnhandledError` would change the whole app's RxJS, so instead:
 *
 * - `subscribe` wraps the observer the app passes before RxJS wraps it: its `next`, `error` and
 *   `complete` run inside a try/catch, and a missing `error` handler becomes one that logs. So
 *   RxJS's reporting never sees a throw.
 * - `lift` (what every pipeable operator calls on its source) returns another guarded Observable,
 *   so the final subscriber of `recv$.pipe(…)` is wrapped the same way. An operator that throws
 *   errors that pipeline, as RxJS always does: that subscription ends, logged; `recv$` and every
 *   other subscriber go on.
 * - Subscribers RxJS makes itself (operators subscribing to their source, `firstValueFrom`) are
 *   passed through unchanged: they catch their own errors and forward them downstream.
 *
 * Not covered: values the app re-broadcasts through its own Subject, and Observables combined
 * with `recv$` by creation functions (`merge`, `combineLatest`), whose subscribers are not made
 * by `recv$`. The routers (`startServerChskRouter`) isolate each handler call and answer a pending
 * reply with `chsk/error`: they are the recommended way to handle events.
 */
import type { Logger } from '@sente-rx/core';
import { Observable, type Observer, type Operator, type Subscriber, type Subscription } from 'rxjs';

/** What the log names of the event being delivered, when the throw happened during its delivery. */
interface EventLike {
  readonly id?: unknown;
  readonly clientId?: unknown;
  readonly uid?: unknown;
}

interface Guard {
  readonly logger: Logger;
  /** The value `recv$` is delivering right now (a throw during its delivery names it). */
  current: unknown;
}

const isFn = (x: unknown): x is (...args: never[]) => unknown => typeof x === 'function';

/** RxJS's own test (`isSubscriber`), duck-typed so a Subscriber of another rxjs copy counts too. */
function isSubscriber(x: unknown): x is Subscriber<unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Partial<Subscriber<unknown>>;
  return isFn(s.next) && isFn(s.error) && isFn(s.complete) && isFn(s.unsubscribe) && isFn(s.add) && 'closed' in s;
}

function describeCurrent(guard: Guard): Record<string, unknown> {
  const v = guard.current;
  if (typeof v !== 'object' || v === null) return {};
  const { id, clientId, uid } = v as EventLike;
  return { id, clientId, uid };
}

function guardObserver<T>(guard: Guard, o: Partial<Observer<T>>): Observer<T> {
  const run = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      guard.logger.error(`sente-rx: a recv$ subscriber's ${what} handler threw; recv$ and every other subscriber go on`, { ...describeCurrent(guard), err });
    }
  };
  return {
    next: (v) => {
      if (o.next !== undefined) run('next', () => o.next?.call(o, v));
    },
    error: (err: unknown) => {
      if (o.error !== undefined) run('error', () => o.error?.call(o, err));
      else {
        guard.logger.error('sente-rx: a recv$ subscription errored and ended (an operator threw, and the subscriber has no error handler); recv$ and every other subscriber go on', {
          ...describeCurrent(guard),
          err,
        });
      }
    },
    complete: () => {
      if (o.complete !== undefined) run('complete', () => o.complete?.call(o));
    },
  };
}

class GuardedObservable<T> extends Observable<T> {
  constructor(
    private readonly guard: Guard,
    subscribe?: (this: Observable<T>, subscriber: Subscriber<T>) => Subscription | (() => void) | void,
  ) {
    super(subscribe);
  }

  override lift<R>(operator?: Operator<T, R>): Observable<R> {
    const derived = new GuardedObservable<R>(this.guard);
    derived.source = this;
    derived.operator = operator;
    return derived;
  }

  override subscribe(observerOrNext?: Partial<Observer<T>> | ((value: T) => void) | null): Subscription;
  /** @deprecated Pass an observer object instead (RxJS 8 removes this signature). */
  override subscribe(next?: ((value: T) => void) | null, error?: ((error: unknown) => void) | null, complete?: (() => void) | null): Subscription;
  override subscribe(
    observerOrNext?: Partial<Observer<T>> | ((value: T) => void) | null,
    error?: ((error: unknown) => void) | null,
    complete?: (() => void) | null,
  ): Subscription {
    if (isSubscriber(observerOrNext)) return super.subscribe(observerOrNext as Subscriber<T>);
    const partial: Partial<Observer<T>> =
      typeof observerOrNext === 'function' || observerOrNext === null || observerOrNext === undefined
        ? { ...(observerOrNext ? { next: observerOrNext } : {}), ...(error ? { error } : {}), ...(complete ? { complete } : {}) }
        : observerOrNext;
    return super.subscribe(guardObserver(this.guard, partial));
  }
}

/** `source` as a `recv$` whose subscribers' throws are logged through `logger` (see the module comment). */
export function guardedRecv<T>(source: Observable<T>, logger: Logger): Observable<T> {
  const guard: Guard = { logger, current: undefined };
  return new GuardedObservable<T>(guard, (subscriber) =>
    source.subscribe({
      next: (v) => {
        const outer = guard.current;
        guard.current = v;
        try {
          subscriber.next(v);
        } finally {
          guard.current = outer;
        }
      },
      error: (err: unknown) => subscriber.error(err),
      complete: () => subscriber.complete(),
    }),
  );
}
