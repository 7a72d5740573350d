/**
 * The request manager: callback ids, the pending map, settling, and the one place a request's
 * `ChskError` is built. It knows nothing of transports: `request` takes the function that hands
 * the event to the network.
 */
import { ChskError, type ChskErrorCode, isReplyErrorValue, type Logger } from '@sente-rx/core';
import { AsyncSubject, Observable, type SchedulerLike, type Subscription } from 'rxjs';

const MESSAGES = {
  'chsk/timeout': 'no reply within timeoutMs',
  'chsk/closed': 'the channel socket closed before the reply',
  'chsk/error': 'the request failed',
} as const;

type RequestErrorCode = keyof typeof MESSAGES & ChskErrorCode;

/** Every ChskError a send or request errors with. */
export const requestError = (code: RequestErrorCode, message: string = MESSAGES[code]): ChskError => new ChskError(code, message);

/** Not open, or closed while waiting. */
export const closedError = (): ChskError => requestError('chsk/closed', 'the channel socket is closed');

interface Pending {
  readonly result: AsyncSubject<unknown>;
  readonly timer: Subscription;
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
  /** The connection is gone: every pending request fails with `chsk/closed`. */
  failAll(): void;
}

export function createRequests(scheduler: SchedulerLike, logger: Logger): Requests {
  let pending = new Map<string, Pending>();
  let seq = 0;
  const settle = (cbId: string, value: unknown): void => {
    const p = pending.get(cbId);
    if (p === undefined) {
      logger.debug('sente-rx: ignored a reply with no waiting request (late, or unknown cbId)', { cbId });
      return;
    }
    pending.delete(cbId);
    p.timer.unsubscribe();
    if (isReplyErrorValue(value)) p.result.error(requestError(value));
    else {
      p.result.next(value);
      p.result.complete();
    }
  };
  return {
    get size() {
      return pending.size;
    },
    settle,
    request(send, timeoutMs) {
      const cbId = (++seq).toString(36);
      const result = new AsyncSubject<unknown>();
      const timer = scheduler.schedule(() => settle(cbId, 'chsk/timeout'), timeoutMs);
      pending.set(cbId, { result, timer });
      if (!send(cbId)) settle(cbId, 'chsk/error');
      return new Observable<unknown>((subscriber) => {
        const sub = result.subscribe(subscriber);
        return () => {
          sub.unsubscribe();
          // The last subscriber left before the outcome: drop the entry; a late reply is ignored.
          const p = pending.get(cbId);
          if (p?.result === result && !result.observed) {
            p.timer.unsubscribe();
            pending.delete(cbId);
          }
        };
      });
    },
    failAll() {
      const all = pending;
      pending = new Map();
      for (const p of all.values()) {
        p.timer.unsubscribe();
        p.result.error(closedError());
      }
    },
  };
}
