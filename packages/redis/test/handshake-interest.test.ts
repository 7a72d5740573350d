/**
 * The subscribe window (issue 12): with `redisBroker({ recovery: false })` there is no log to fill
 * a gap, so a send issued once a client could know it is connected must reach it live. Two
 * in-process server nodes on one private redis-server; the client connects to node A, and the app
 * sends at the earliest moments it could: on the client's open (from A and from B), on A's
 * `chsk/uidport-open`, when B's connectedUids$ shows the uid, and on receiving the client's first
 * event (to the uid and to that one client). Every event must arrive.
 *
 * To make the window visible whatever the machine's speed, node A's broker is wrapped so that the
 * calls that make it SUBSCRIBE (`localPresence`, `interest`) reach Redis only once the app's sends
 * on the client's open were acknowledged by Redis, or once the server asks for interest (a server
 * that gates its handshake on it: it cannot open the client before the SUBSCRIBE is live). So a
 * server that tells the client it is connected before its interest is live loses those sends here
 * deterministically, not by the luck of a race.
 *
 * Without redis-server this file skips loudly, except under CI=true, where it fails.
 */
import type { ChskEvent, Uid } from '@sente-rx/core';
import type { ChannelSocketClient, ClientEventMsg } from '@sente-rx/client';
import type { Broker, ServerEventMsg } from '@sente-rx/server';
import { filter, firstValueFrom, take, timeout } from 'rxjs';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { client, startServer, type TestServer } from '@sente-rx/fixtures';
import { RedisServer, redisAvailable } from '@sente-rx/fixtures/redis-server';
import { redisBroker, type RedisBroker } from '../src/index.js';

const available = redisAvailable();

let prefixSeq = 0;
const prefix = (): string => `hi${process.pid}x${prefixSeq++}`;

/**
 * `real`, with the calls that make it take interest in a uid held back until `release()`, then
 * replayed in order. `interest` (a gating server calls it) releases at once: the wait it returns
 * is the real one.
 */
function holding(real: Broker): Broker & { release(): void; readonly released: boolean; isLive(uid: Uid): boolean } {
  const queue: (() => void)[] = [];
  /** Uids whose interest the real broker reported live. */
  const live = new Set<Uid>();
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    for (const f of queue.splice(0)) f();
  };
  const later = (f: () => void): void => {
    if (released) f();
    else queue.push(f);
  };
  const b: Broker & { release(): void; readonly released: boolean; isLive(uid: Uid): boolean } = {
    connect: (n) => real.connect(n),
    publish: (t, e, f) => real.publish(t, e, f),
    request: (r) => real.request(r),
    reply: (r) => real.reply(r),
    localPresence: (uid, on) => later(() => real.localPresence(uid, on)),
    connectedUids$: real.connectedUids$,
    settled: () => (real.settled === undefined ? Promise.resolve() : real.settled()),
    close: () => real.close(),
    release,
    isLive: (uid) => live.has(uid),
    get released() {
      return released;
    },
  };
  if (real.history !== undefined || real.head !== undefined) throw new Error('holding(): made for recovery: false');
  if (real.interest !== undefined) {
    const interest = real.interest.bind(real);
    b.interest = (uid: Uid, on: boolean) => {
      release();
      const ack = interest(uid, on);
      if (!on) live.delete(uid);
      else if (ack === undefined) live.add(uid);
      else void ack.then(() => live.add(uid));
      return ack;
    };
  }
  return b;
}

const events = (c: ChannelSocketClient): ClientEventMsg[] => {
  const got: ClientEventMsg[] = [];
  c.recv$.subscribe((m) => got.push(m));
  return got;
};

describe.skipIf(!available)('redisBroker({ recovery: false }): a client told it is connected misses no send', () => {
  let redis: RedisServer;
  const brokers: RedisBroker[] = [];
  const servers: TestServer[] = [];
  const clients: ChannelSocketClient[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.stop();
    for (const b of brokers.splice(0)) await b.close();
  });

  const ready = (b: RedisBroker): Promise<unknown> => firstValueFrom(b.status$.pipe(filter((s) => s === 'ready'), take(1), timeout(10_000)));

  async function twoNodes(): Promise<{ a: TestServer; b: TestServer; held: ReturnType<typeof holding> }> {
    const p = prefix();
    const ra = redisBroker({ url: redis.url, prefix: p, recovery: false });
    const rb = redisBroker({ url: redis.url, prefix: p, recovery: false });
    brokers.push(ra, rb);
    const held = holding(ra);
    const a = await startServer({ broker: held, reconnectGraceMs: { ws: 1_000, ajax: 2_000 } });
    const b = await startServer({ broker: rb, reconnectGraceMs: { ws: 1_000, ajax: 2_000 } });
    servers.push(a, b);
    await Promise.all([ready(ra), ready(rb)]);
    return { a, b, held };
  }

  describe.each(['ws', 'ajax'] as const)('over %s', (type) => {
    it('sends at the client\'s open, at uidport-open, at presence on the other node and at its first event all arrive', async () => {
      const { a, b, held } = await twoNodes();
      const uid = `early-${type}`;
      const rb = brokers[1]!;
      const c = client(a.port, { type, uid });
      clients.push(c);
      const got = events(c);
      const sendB = (ev: ChskEvent, to: Uid | { uid: Uid; clientId: string } = uid): void => b.chsk.send(to, ev, { flush: true });
      // The client's open: the app (on either node) pushes at once; the client says hello.
      let liveAtOpen = false;
      c.state$.pipe(filter(([, s]) => s.open), take(1)).subscribe(() => {
        liveAtOpen = held.isLive(uid);
        sendB(['t/at-open-from-b', 1]);
        a.chsk.send(uid, ['t/at-open-from-a', 1], { flush: true });
        c.send(['t/hello', 1]).subscribe({ error: () => undefined });
        // Only now (the sends on open reached Redis) may node A subscribe, if it has not yet.
        void Promise.all([rb.settled(), brokers[0]!.settled()]).then(() => held.release());
      });
      // The holder's uidport-open: the app pushes from there.
      a.chsk.recv$.pipe(filter((m: ServerEventMsg) => m.id === 'chsk/uidport-open' && m.uid === uid), take(1)).subscribe(() => a.chsk.send(uid, ['t/at-uidport', 1], { flush: true }));
      // The other node's presence shows the uid: it pushes.
      b.chsk.connectedUids$.pipe(filter((u) => u.any.has(uid)), take(1)).subscribe(() => sendB(['t/at-presence-on-b', 1]));
      // The client's first event: a push to the uid and one to that client, from the other node.
      a.chsk.recv$.pipe(filter((m: ServerEventMsg) => m.id === 't/hello'), take(1)).subscribe((m) => {
        sendB(['t/after-hello', 1]);
        sendB(['t/to-client', 1], { uid, clientId: m.clientId });
      });
      const want = ['t/at-open-from-b', 't/at-open-from-a', 't/at-uidport', 't/at-presence-on-b', 't/after-hello', 't/to-client'];
      const arrived = (id: string): Promise<unknown> =>
        firstValueFrom(c.recv$.pipe(filter((m) => m.id === id), take(1), timeout(5_000))).catch(() => `missing ${id}`);
      const seen = got.filter((m) => want.includes(m.id)).map((m) => m.id);
      const results = await Promise.all(want.filter((id) => !seen.includes(id)).map(arrived));
      expect(results.filter((r) => typeof r === 'string')).toEqual([]);
      const ids = got.map((m) => m.id).filter((id) => want.includes(id));
      expect([...ids].sort()).toEqual([...want].sort()); // each once
      // The server held the handshake until node A's interest in the uid was live.
      expect(liveAtOpen).toBe(true);
      expect(held.released).toBe(true);
    });
  });
});
