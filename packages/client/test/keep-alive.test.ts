/** The keep-alive Observable in virtual time: when it pings, one ping at a time, and when it reports a dead path. */
import { PONG } from '@sente-rx/core';
import { map, Observable, throwError, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { keepAlive } from '../src/keep-alive.js';

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('keep-alive (virtual time)', () => {
  it('pings only after intervalMs of silence, checked every intervalMs', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable, flush }) => {
      const pings: number[] = [];
      let heard = false;
      const take = (): boolean => {
        const h = heard;
        heard = false;
        return h;
      };
      // Traffic at 150 ms: the tick at 200 sees it and skips; the tick at 300 pings.
      scheduler.schedule(() => (heard = true), 150);
      const ka = keepAlive({
        intervalMs: 100,
        heard: take,
        ping: () => {
          pings.push(scheduler.now());
          heard = true; // the ping is traffic (the client's transmit says so)
          return timer(10, scheduler).pipe(
            map(() => {
              heard = true; // the pong is traffic too
              return PONG;
            }),
          );
        },
        scheduler,
      });
      expectObservable(ka, '^ 450ms !').toBe('');
      flush();
      // ticks at 100 (silent since 0: ping), 200 (the ping, its pong and the traffic at 150), 300 (ping), 400 (ping and pong since 300: skip)
      expect(pings).toEqual([100, 300]);
    });
  });

  it('traffic at the instant of a tick, after it, counts for the next tick', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable, flush }) => {
      const pings: number[] = [];
      let heard = false;
      const ka = keepAlive({
        intervalMs: 100,
        heard: () => {
          const h = heard;
          heard = false;
          return h;
        },
        ping: () => (pings.push(scheduler.now()), timer(10, scheduler).pipe(map(() => PONG))),
        scheduler,
      });
      expectObservable(ka, '^ 350ms !').toBe('');
      // Queued at 0 after the subscription (which queues the first tick), so at 100 it runs after that tick.
      scheduler.schedule(() => scheduler.schedule(() => (heard = true), 100), 0);
      flush();
      // ticks at 100 (silent: ping), 200 (the traffic at 100: skip), 300 (silent: ping)
      expect(pings).toEqual([100, 300]);
    });
  });

  it('one ping at a time: a tick while a ping is out sends no second ping', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable, flush }) => {
      let pings = 0;
      const ka = keepAlive({
        intervalMs: 100,
        heard: () => false,
        // answered after 250 ms: the ticks at 200 and 300 come while it is out
        ping: () => (pings++, timer(250, scheduler).pipe(map(() => PONG))),
        scheduler,
      });
      expectObservable(ka, '^ 399ms !').toBe('');
      flush();
      expect(pings).toBe(1);
    });
  });

  it('emits once and completes when the ping fails (a timeout) or is answered with something else', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const fails = (ping: () => Observable<unknown>): Observable<void> => keepAlive({ intervalMs: 100, heard: () => false, ping, scheduler });
      const timesOut = (): Observable<unknown> =>
        timer(40, scheduler).pipe(
          map(() => {
            throw new Error('chsk/timeout');
          }),
        );
      expectObservable(fails(timesOut)).toBe('140ms (x|)', { x: undefined });
      expectObservable(fails(() => timer(5, scheduler).pipe(map(() => 'not a pong')))).toBe('105ms (x|)', { x: undefined });
      expectObservable(fails(() => throwError(() => new Error('closed')))).toBe('100ms (x|)', { x: undefined });
    });
  });

  it('unsubscribing stops the ticks and drops the ping in flight', () => {
    const scheduler = newScheduler();
    scheduler.run(({ flush }) => {
      let pings = 0;
      let pingUnsubscribed = false;
      const sub = keepAlive({
        intervalMs: 100,
        heard: () => false,
        ping: () => {
          pings++;
          return new Observable<unknown>(() => () => (pingUnsubscribed = true));
        },
        scheduler,
      }).subscribe();
      scheduler.schedule(() => sub.unsubscribe(), 150);
      flush();
      expect(pings).toBe(1);
      expect(pingUnsubscribed).toBe(true);
    });
  });
});
