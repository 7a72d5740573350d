/**
 * The client's multicasting, smaller than RxJS's `Subject` and `BehaviorSubject` (which a browser
 * bundle would otherwise carry with their error classes): `next` and `complete` to every current
 * subscriber, and a read side that is a plain `Observable`. A subscriber added or removed during an
 * emission takes effect from the next one, as with a `Subject`.
 */
import { Observable, type Subscriber } from 'rxjs';
import type { ReadonlyBehaviorSubject } from '@sente-rx/core';

export interface Hub<T> {
  next(value: T): void;
  complete(): void;
  asObservable(): Observable<T>;
}

/**
 * `onSubscribe` runs first for every subscriber, also after `complete` (`done` says so). No
 * getters on the hubs' objects: V8 keeps an object literal with a closure getter in dictionary
 * mode, and `next` is called on every message.
 */
function makeHub<T>(onSubscribe?: (s: Subscriber<T>, done: boolean) => void): Hub<T> & { readonly observable: Observable<T>; isDone(): boolean } {
  let subs: readonly Subscriber<T>[] = [];
  let done = false;
  const observable = new Observable<T>((s) => {
    onSubscribe?.(s, done);
    if (done) {
      s.complete();
      return undefined;
    }
    subs = [...subs, s];
    return () => {
      subs = subs.filter((x) => x !== s);
    };
  });
  return {
    observable,
    isDone: () => done,
    // Copy-on-write: an emission walks the list as it was when it began.
    next(value) {
      if (done) return;
      for (const s of subs) s.next(value);
    },
    complete() {
      if (done) return;
      done = true;
      const all = subs;
      subs = [];
      for (const s of all) s.complete();
    },
    asObservable: () => observable,
  };
}

/** A `Subject`'s role: emits to the current subscribers. */
export const hub = <T>(): Hub<T> => makeHub<T>();

/** A `BehaviorSubject`'s role: a current value, given to each new subscriber first; the read side has `value` and `getValue()`. */
export function valueHub<T>(initial: T): Hub<T> & { readonly value: T; readonly readonly: ReadonlyBehaviorSubject<T> } {
  let value = initial;
  const h = makeHub<T>((s, done) => done || s.next(value));
  const getValue = (): T => value;
  const ro = Object.defineProperty(Object.assign(h.observable, { getValue }), 'value', { get: getValue, enumerable: true }) as ReadonlyBehaviorSubject<T>;
  const vh = {
    next(v: T) {
      value = v;
      vh.value = v;
      h.next(v);
    },
    complete: h.complete,
    asObservable: h.asObservable,
    value,
    readonly: ro,
  };
  return vh;
}

/**
 * core's `FirstSubscriberBuffer` on a hub (no `Subject` in the bundle): until the first
 * subscription at most `max` values are kept (sliding: the oldest go, `onDrop` is told the total
 * dropped); the first subscriber gets them in order, then live values (ones that arrive while it is
 * handed the kept ones queue behind them); later subscribers get live values only. A `complete`
 * before the first subscriber reaches it after the kept values.
 */
export function firstSubscriberHub<T>(max: number, onDrop: (droppedSoFar: number) => void): Hub<T> {
  if (!Number.isInteger(max) || max < 0) throw new TypeError(`FirstSubscriberBuffer: max must be a non-negative integer, got ${String(max)}`);
  let kept: T[] | null = [];
  let dropped = 0;
  const h = makeHub<T>((s) => {
    const k = kept;
    if (k === null) return;
    // Taken from the front, so next() calls made meanwhile append behind and slide only what is still kept.
    while (k.length > 0 && !s.closed) s.next(k.shift() as T);
    kept = null;
    // From now on a value goes straight to the subscribers: one closure and one context fewer per
    // value, which counts when many clients share a process (a load generator) and take turns.
    hub.next = h.next;
  });
  const hub: { next: (value: T) => void; readonly complete: () => void; readonly asObservable: () => Observable<T> } = {
    next(value) {
      // (A reference to this next taken before the first subscriber still delivers, through the hub.)
      if (kept === null) return h.next(value);
      if (h.isDone()) return;
      kept.push(value);
      if (kept.length > max) {
        kept.shift();
        onDrop(++dropped);
      }
    },
    complete: h.complete,
    asObservable: h.asObservable,
  };
  return hub;
}
