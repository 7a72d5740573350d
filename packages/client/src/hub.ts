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

function makeHub<T>(onSubscribe?: (s: Subscriber<T>) => void): Hub<T> & { readonly observable: Observable<T> } {
  let subs: readonly Subscriber<T>[] = [];
  let done = false;
  const observable = new Observable<T>((s) => {
    if (done) {
      s.complete();
      return undefined;
    }
    onSubscribe?.(s);
    subs = [...subs, s];
    return () => {
      subs = subs.filter((x) => x !== s);
    };
  });
  return {
    observable,
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
  const h = makeHub<T>((s) => s.next(value));
  const getValue = (): T => value;
  const ro = Object.defineProperty(Object.assign(h.observable, { getValue }), 'value', { get: getValue, enumerable: true }) as ReadonlyBehaviorSubject<T>;
  return {
    next(v) {
      value = v;
      h.next(v);
    },
    complete: h.complete,
    asObservable: h.asObservable,
    get value() {
      return value;
    },
    readonly: ro,
  };
}
