/**
 * Keeps what arrives before anyone listens, for the first listener. The channel sockets' `recv$`
 * is hot: without this, an app that awaits something before subscribing misses the client's
 * `chsk/handshake` (Sente keeps its receive channel in a sliding buffer for the same reason).
 *
 * - Until the first subscription, values are kept, at most `max` of them; past that the oldest
 *   are dropped (a sliding buffer, like Sente's) and `onDrop` is told how many so far.
 * - The first subscriber gets the kept values, in order, then the live ones. Values that arrive
 *   while it is still being handed the kept ones are queued behind them, so order holds.
 * - From then on it is a plain multicast `Subject`: later subscribers get live values only, and
 *   nothing is kept again, even when every subscriber has left.
 * - `error` / `complete` before the first subscriber are kept too and delivered after the values.
 *
 * A factory uses it in place of the `Subject` behind `recv$`: `next` into it, expose `asObservable()`.
 */
import { Observable, Subject, type Observer } from 'rxjs';

/** Sente's receive buffer on the server (`(async/sliding-buffer 1000)`); the client's is 2048. */
export const DEFAULT_FIRST_SUBSCRIBER_BUFFER = 1_000;

export interface FirstSubscriberBufferOptions {
  /** Told the total number dropped each time the buffer slides. */
  readonly onDrop?: (droppedSoFar: number) => void;
}

export class FirstSubscriberBuffer<T> implements Observer<T> {
  readonly #subject = new Subject<T>();
  readonly #max: number;
  readonly #onDrop: ((n: number) => void) | undefined;
  /** `null` once the first subscriber has taken the kept values. */
  #kept: T[] | null = [];
  #dropped = 0;
  readonly #observable: Observable<T>;

  constructor(max: number = DEFAULT_FIRST_SUBSCRIBER_BUFFER, options: FirstSubscriberBufferOptions = {}) {
    if (!Number.isInteger(max) || max < 0) throw new TypeError(`FirstSubscriberBuffer: max must be a non-negative integer, got ${String(max)}`);
    this.#max = max;
    this.#onDrop = options.onDrop;
    this.#observable = new Observable<T>((subscriber) => {
      const kept = this.#kept;
      if (kept !== null) {
        // Hand over the kept values from the front: next() calls made meanwhile append behind them,
        // and a full buffer then slides only what is still kept (an index would skip one).
        while (kept.length > 0 && !subscriber.closed) subscriber.next(kept.shift() as T);
        this.#kept = null;
      }
      return this.#subject.subscribe(subscriber);
    });
  }

  /** Hands `value` to the subscribers, or keeps it (sliding, up to `max`) until the first one comes. */
  next(value: T): void {
    const kept = this.#kept;
    if (kept === null) {
      this.#subject.next(value);
      return;
    }
    if (this.#subject.closed || this.#subject.isStopped) return;
    kept.push(value);
    if (kept.length > this.#max) {
      kept.shift();
      this.#dropped++;
      this.#onDrop?.(this.#dropped);
    }
  }

  /** Ends with an error; a first subscriber gets it after the kept values. */
  error(err: unknown): void {
    // A Subject remembers a terminal notification for late subscribers, who get it after the kept values.
    this.#subject.error(err);
  }

  /** Completes; a first subscriber gets the kept values first. */
  complete(): void {
    this.#subject.complete();
  }

  /** How many values are kept for the first subscriber (0 once it came). */
  get size(): number {
    return this.#kept?.length ?? 0;
  }

  asObservable(): Observable<T> {
    return this.#observable;
  }
}
