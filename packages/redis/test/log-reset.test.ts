/**
 * Redis loses its data under live recovery clients (FLUSHALL, or a SIGKILL + restart of a Redis
 * without persistence): the log's sequences restart at 1, so a client that already saw events
 * would take the new ones for duplicates (seq ≤ its position) and drop them without a word. The
 * events `redisBroker` delivers carry the log they belong to (`LoggedEvent.epoch`), so the server
 * sees the new log and makes the client reconnect (PROTOCOL.md §11.5: 4001 chsk/log-reset on a
 * WebSocket, `chsk/timeout` for a held poll); the client learns `recovered: false` and gets the
 * new log from its start: the event that revealed it, then the rest. Also: `redisBroker({ recovery: false })` offers no log, so the server runs
 * without recovery (no `recovered` after a reconnect).
 *
 * One server in this process on a private redis-server. Waits are on events, each bounded.
 * Without redis-server this file skips loudly, except under CI=true, where it fails.
 */
import { Redis } from 'ioredis';
import { filter, firstValueFrom, take, timeout } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelSocketClient } from '@sente-rx/client';
import { silentLogger } from '@sente-rx/core';
import { nextEvent, type TestServer, useFixtures, whenClosed, whenOpen, nextData, recordData } from '@sente-rx/fixtures';
import { RedisServer, redisAvailable } from '@sente-rx/fixtures/redis-server';
import { type RedisBroker, type RedisBrokerOptions, redisBroker } from '../src/redis-broker.js';

const available = redisAvailable();
const fx = useFixtures();
const TYPES = ['ws', 'ajax'] as const;

let prefixSeq = 0;
const prefix = (): string => `lr${process.pid}x${prefixSeq++}`;

/** The data of the next `n` pushes with id `app/n`. */
const nextPushes = (c: ChannelSocketClient, n: number, ms = 10_000): Promise<unknown[]> => nextData(c, 'app/n', n, ms);

/** Every `app/n` push from now on. */
const record = (c: ChannelSocketClient): unknown[] => recordData(c, 'app/n');

const handshake = (c: ChannelSocketClient, ms = 10_000): Promise<unknown> => nextEvent(c, 'chsk/handshake', ms).then((m) => m.data);

const whenReady = (b: RedisBroker): Promise<unknown> => firstValueFrom(b.status$.pipe(filter((s) => s === 'ready'), take(1), timeout(10_000)));

describe.skipIf(!available)('redisBroker: Redis loses its data under live recovery clients', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function serve(opts: Partial<RedisBrokerOptions> = {}, url = redis.url): Promise<{ srv: TestServer; broker: RedisBroker }> {
    const broker = redisBroker({ url, prefix: prefix(), heartbeatMs: 100, presenceTtlMs: 300, redisOptions: { retryStrategy: () => 20 }, ...opts });
    await whenReady(broker);
    // The server closes its broker when it stops.
    const srv = await fx.startServer({ broker, logger: silentLogger, reconnectGraceMs: { ws: 30, ajax: 30 } });
    return { srv, broker };
  }

  /** A client of `uid` that saw 2 uid events and 2 broadcasts (its position: u 2, g 2). */
  async function primed(srv: TestServer, broker: RedisBroker, uid: string, type: (typeof TYPES)[number]): Promise<{ c: ChannelSocketClient; got: unknown[] }> {
    const c = fx.client(srv.port, { uid, type, logger: silentLogger });
    await whenOpen(c);
    await broker.settled();
    const got = record(c);
    const first = nextPushes(c, 4);
    srv.chsk.send(uid, ['app/n', 0], { flush: true });
    srv.chsk.broadcast(['app/n', 1], { flush: true });
    srv.chsk.send(uid, ['app/n', 2], { flush: true });
    srv.chsk.broadcast(['app/n', 3], { flush: true });
    expect(await first).toEqual([0, 1, 2, 3]);
    return { c, got };
  }

  /**
   * After Redis lost the log under `c` (primed): the first event of the new log (a `kind` send, seq
   * 1, below the client's position) makes it reconnect and learn recovered: false; that event and
   * every later one arrive, once, in order (seq 2 is also at or below the old position).
   */
  async function afterNewLog(srv: TestServer, c: ChannelSocketClient, uid: string, got: readonly unknown[], kind: 'uid' | 'broadcast'): Promise<void> {
    const hs = handshake(c);
    if (kind === 'uid') srv.chsk.send(uid, ['app/n', 'x'], { flush: true });
    else srv.chsk.broadcast(['app/n', 'x'], { flush: true });
    expect(await hs).toEqual([uid, null, false, false]);
    expect(c.state.recovered).toBe(false);
    const live = nextPushes(c, 2);
    srv.chsk.send(uid, ['app/n', 'y'], { flush: true });
    srv.chsk.broadcast(['app/n', 'z'], { flush: true });
    await live;
    expect(got.slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(got.slice(-2)).toEqual(['y', 'z']);
    // The event that revealed the new log is in it: it is replayed after the handshake
    // (recovered: false), once, before the later ones; nothing of the old log comes twice.
    expect(got).toEqual([0, 1, 2, 3, 'x', 'y', 'z']);
  }

  describe.each(TYPES)('over %s', (type) => {
    it.each(['uid', 'broadcast'] as const)('FLUSHALL, then a %s send: the client is told recovered: false and gets the events after it, none dropped as a duplicate', async (kind) => {
      const { srv, broker } = await serve();
      const uid = `flushed-${type}-${kind}`;
      const { c, got } = await primed(srv, broker, uid, type);
      const raw = new Redis(redis.url);
      await raw.flushall();
      await raw.quit();
      await afterNewLog(srv, c, uid, got, kind);
    });
  });

  it('SIGKILL + restart of a Redis without persistence: a WebSocket client is told recovered: false and gets the new events', async () => {
    const own = await RedisServer.start();
    try {
      const { srv, broker } = await serve({}, own.url);
      const uid = 'killed';
      const { c, got } = await primed(srv, broker, uid, 'ws');
      await own.kill();
      await firstValueFrom(broker.status$.pipe(filter((s) => s === 'degraded'), take(1), timeout(10_000)));
      await own.restart();
      await whenReady(broker);
      await afterNewLog(srv, c, uid, got, 'uid');
      await srv.stop();
    } finally {
      await own.stop();
    }
  });

  // WebSocket only: an Ajax client of a server on redisBroker({ recovery: false }) gets no push at
  // all (also before this change; not a recovery matter): left for a fix of its own.
  it.each(['ws'] as const)('recovery: false: the broker offers no log, so the server runs without recovery (%s: no recovered after a reconnect)', async (type) => {
    const { srv, broker } = await serve({ recovery: false });
    expect(broker.history).toBeUndefined();
    expect(broker.head).toBeUndefined();
    const uid = `no-log-${type}`;
    const c = fx.client(srv.port, { uid, type, logger: silentLogger });
    await whenOpen(c);
    await broker.settled();
    const got = nextPushes(c, 1);
    srv.chsk.send(uid, ['app/n', 1], { flush: true });
    expect(await got).toEqual([1]);
    const gone = srv.next('chsk/uidport-close', () => true, 10_000);
    c.disconnect();
    await whenClosed(c);
    await gone;
    const hs = handshake(c);
    c.reconnect();
    expect(await hs).toEqual([uid, null, false]);
    expect('recovered' in c.state).toBe(false);
  });
});
