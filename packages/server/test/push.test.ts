/**
 * Server pushes that cannot be packed: an app bug (a BigInt, a cycle) in one event must not
 * crash the process from a timer, nor take the other events of the batch, nor strand a held
 * Ajax poll. Timers run on an injected scheduler that records anything thrown out of them.
 */
import { describe, expect, it } from 'vitest';
import { asyncScheduler, type SchedulerAction, type SchedulerLike } from 'rxjs';
import { chskPath, freshClientId, httpRequest, pushedEvents, recordingLogger, type TestServer, useFixtures } from '@sente-rx/fixtures';

/** asyncScheduler, except that an exception thrown by scheduled work is recorded instead of escaping to the event loop. */
function catchingScheduler(escaped: unknown[]): SchedulerLike {
  return {
    now: () => asyncScheduler.now(),
    schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T) {
      return asyncScheduler.schedule<T>(
        function (this: SchedulerAction<T>, s?: T) {
          try {
            work.call(this, s);
          } catch (err) {
            escaped.push(err);
          }
        },
        delay,
        state,
      );
    },
  };
}

const isBatch = (m: unknown): boolean => Array.isArray(m) && m[1] === null && Array.isArray(m[0]) && m[0][0] !== 'chsk/handshake';

describe('a push that cannot be packed', () => {
  let srv: TestServer;
  const fx = useFixtures();

  /** send() may refuse the event at once (throw); if it accepts it, the server must cope later. */
  function trySend(uid: string, ev: readonly [string, unknown]): 'threw' | 'accepted' {
    try {
      srv.chsk.send(uid, ev);
      return 'accepted';
    } catch (err) {
      expect(err).toBeInstanceOf(Error);
      return 'threw';
    }
  }

  it('over WebSocket (batched): nothing escapes a timer, and the batch\'s other events are delivered', async () => {
    const escaped: unknown[] = [];
    const logger = recordingLogger();
    srv = await fx.startServer({ logger, sendBufMs: { ws: 20 }, scheduler: catchingScheduler(escaped) });
    const c = fx.rawWs(srv.port, { uid: 'alice' });
    await c.handshake();
    srv.chsk.send('alice', ['test/before', 1]);
    const outcome = trySend('alice', ['test/bad', 10n]);
    srv.chsk.send('alice', ['test/after', 2]);
    await c.next(isBatch); // the batch with the other events (the kit's hang guard, not a 2 s window)
    expect(escaped).toEqual([]);
    expect(pushedEvents(c)).toEqual([
      ['test/before', 1],
      ['test/after', 2],
    ]);
    if (outcome === 'accepted') expect(logger.entries.some((e) => e.level === 'error')).toBe(true);
  });

  it('over Ajax: the held poll is still answered with the other events', async () => {
    const escaped: unknown[] = [];
    srv = await fx.startServer({ sendBufMs: { ajax: 20 }, scheduler: catchingScheduler(escaped) });
    const path = chskPath({ 'client-id': freshClientId('ajax'), uid: 'bob' });
    await httpRequest(srv.port, { path: `${path}&handshake%3F=1` });
    const poll = httpRequest(srv.port, { path });
    await srv.next('chsk/uidport-open', (m) => m.data === 'bob');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    srv.chsk.send('bob', ['test/before', 1]);
    trySend('bob', ['test/bad', cyclic]);
    srv.chsk.send('bob', ['test/after', 2]);
    const res = await poll; // answered by the 20 ms send window; awaited, not raced against a wall-clock window
    expect(escaped).toEqual([]);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual([
      [
        ['test/before', 1],
        ['test/after', 2],
      ],
      null,
    ]);
  });
});
