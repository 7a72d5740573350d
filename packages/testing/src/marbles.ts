/**
 * What both mocks share: marble specs turned into Observables on the caller's TestScheduler, the
 * reply timelines (with the client `send`'s timeout semantics) and the records of what the code
 * under test did.
 */
import { type Observable, ReplaySubject, take, throwError, timeout } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { ChskError } from '@sente-rx/core';

/**
 * A marble diagram with its values: a bare string takes its values from the mock's shared map for
 * that input (`values`, `replyValues`, …); the object form carries its own (type-checked) values
 * and the error a `#` stands for.
 */
export type MarbleSpec<T> = string | { readonly marble: string; readonly values?: Readonly<Record<string, T>>; readonly error?: unknown };

function parts<T>(spec: MarbleSpec<T>, shared: Readonly<Record<string, T>> | undefined, defaultError: unknown) {
  return typeof spec === 'string'
    ? { marble: spec, values: shared, error: defaultError }
    : { marble: spec.marble, values: spec.values ?? shared, error: spec.error ?? defaultError };
}

export function hotFrom<T>(scheduler: TestScheduler, spec: MarbleSpec<T>, shared?: Readonly<Record<string, T>>): Observable<T> {
  const p = parts(spec, shared, new Error('mock: marble error'));
  return scheduler.createHotObservable<T>(p.marble, p.values as Record<string, T> | undefined, p.error);
}

/**
 * The reply Observable of a request sent now: the reply marble runs from the moment of the send
 * (the send is eager, whether or not anyone subscribes); its first value is the reply. With no
 * marble for the id, or one slower than `timeoutMs`, it errors `'chsk/timeout'` at `timeoutMs`,
 * as the real client does. `#` in a reply marble errors with `'chsk/error'` unless the spec says otherwise.
 */
export function replyFrom<T>(
  scheduler: TestScheduler,
  spec: MarbleSpec<T> | undefined,
  shared: Readonly<Record<string, T>> | undefined,
  timeoutMs: number,
): Observable<T> {
  const out = new ReplaySubject<T>(1);
  const timedOut = (): Observable<never> => throwError(() => new ChskError('chsk/timeout', 'no reply within timeoutMs (mock)'));
  const source: Observable<T> =
    spec === undefined
      ? scheduler.createColdObservable<T>('-')
      : (() => {
          const p = parts(spec, shared, new ChskError('chsk/error', 'the request failed (mock)'));
          return scheduler.createColdObservable<T>(p.marble, p.values as Record<string, T> | undefined, p.error);
        })();
  source.pipe(take(1), timeout({ first: timeoutMs, scheduler, with: timedOut })).subscribe(out);
  return out.asObservable();
}

/** An append-only record, readable as an array and as an Observable (replayed, so nothing is missed at frame 0). */
export class Recorder<T> {
  readonly records: T[] = [];
  readonly #subject = new ReplaySubject<T>();
  readonly records$: Observable<T> = this.#subject.asObservable();
  push(record: T): void {
    this.records.push(record);
    this.#subject.next(record);
  }
  complete(): void {
    this.#subject.complete();
  }
}

/** What a mock records: the sends of the code under test and its replies. */
export class MockRecords<TSent, TReplied> {
  readonly #sent = new Recorder<TSent>();
  readonly #replied = new Recorder<TReplied>();
  readonly sent = this.#sent.records;
  readonly sent$ = this.#sent.records$;
  readonly replied = this.#replied.records;
  readonly replied$ = this.#replied.records$;
  recordSent(record: TSent): void {
    this.#sent.push(record);
  }
  recordReplied(record: TReplied): void {
    this.#replied.push(record);
  }
  complete(): void {
    this.#sent.complete();
    this.#replied.complete();
  }
  /** The four public record members, for a mock's result object. */
  expose(): Pick<MockRecords<TSent, TReplied>, 'sent' | 'sent$' | 'replied' | 'replied$'> {
    return { sent: this.sent, sent$: this.sent$, replied: this.replied, replied$: this.replied$ };
  }
}

export const closedError = (): ChskError => new ChskError('chsk/closed', 'the channel socket is closed (mock)');
