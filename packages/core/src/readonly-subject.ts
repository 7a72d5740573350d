import type { BehaviorSubject, Observable } from 'rxjs';

/** A BehaviorSubject's read side: subscribe, `value`, `getValue()`; no `next`. */
export interface ReadonlyBehaviorSubject<T> extends Observable<T> {
  readonly value: T;
  getValue(): T;
}

/** Wraps `subject` read-only; `value` is a getter that reads through (not a copy). */
export function readonlyBehaviorSubject<T>(subject: BehaviorSubject<T>): ReadonlyBehaviorSubject<T> {
  const o = subject.asObservable();
  Object.defineProperty(o, 'value', { get: () => subject.value, enumerable: true });
  return Object.assign(o, { getValue: () => subject.getValue() }) as ReadonlyBehaviorSubject<T>;
}
