/**
 * Three server PROCESSES on one private redis-server, with `redisBroker` as their `broker`
 * (issue 12): cross-node sends, client-targeted sends, broadcasts and server→client requests;
 * cluster presence (one uidport edge per cluster, connectedUids$ agreeing on every node); a
 * SIGKILLed node; a Redis restart. Nodes are forked by @sente-rx/fixtures/cluster (bundled from
 * sources, no build needed). Waits are on events, each bounded; nothing sleeps.
 *
 * Without redis-server this file skips loudly, except under CI=true, where it fails.
 */
import { filter, firstValueFrom, take, timeout, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, freshClientId, nextEvent, pushedEvents, type RawWs, useFixtures, whenOpen } from '@sente-rx/fixtures';
import { startCluster, type Cluster, type ClusterNode } from '@sente-rx/fixtures/cluster';
import { freePort, RedisServer, redisAvailable } from '@sente-rx/fixtures/redis-server';
import { startRoundRobinProxy, type RoundRobinProxy } from '@sente-rx/fixtures/round-robin-proxy';

const available = redisAvailable();
const fx = useFixtures();

// Short heartbeats: a dead node leaves presence within presenceTtlMs + heartbeatMs = 600 ms of its
// last heartbeat (the redis README's bound), far under the waits' bounds below.
const HEARTBEAT_MS = 150;
const PRESENCE_TTL_MS = 450;
const DEAD_NODE_BOUND_MS = PRESENCE_TTL_MS + HEARTBEAT_MS;

let prefixSeq = 0;
const prefix = (): string => `cl${process.pid}x${prefixSeq++}`;

/** Resolves once the raw client has received `n` pushed events (bounded). */
async function pushes(raw: RawWs, n: number, ms = 10_000): Promise<unknown[]> {
  await firstValueFrom(raw.messages.pipe(filter(() => pushedEvents(raw).length >= n), take(1), timeout(ms)));
  return pushedEvents(raw);
}

const at = (c: Cluster, i: number): ClusterNode => {
  const n = c.nodes[i];
  if (n === undefined) throw new Error(`no node ${i}`);
  return n;
};

describe.skipIf(!available)('three server processes on redisBroker', () => {
  let redis: RedisServer;
  let cluster: Cluster;
  let proxy: RoundRobinProxy;

  beforeAll(async () => {
    redis = await RedisServer.start();
    cluster = await startCluster({
      nodes: 3,
      broker: { kind: 'redis', url: redis.url, prefix: prefix(), heartbeatMs: HEARTBEAT_MS, presenceTtlMs: PRESENCE_TTL_MS },
      node: { server: { reconnectGraceMs: { ws: 1_000, ajax: 2_000 } } },
    });
    proxy = await startRoundRobinProxy(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await cluster?.stop();
    await redis?.stop();
  });

  /**
   * A raw WebSocket client of `uid` on node `i`, open and handshaken (so its node's interest in
   * the uid is live: the handshake waits for the SUBSCRIBE, redis README "Faults"), present on
   * every node.
   */
  async function rawOn(i: number, uid: string): Promise<RawWs> {
    const raw = fx.rawWs(at(cluster, i).port, { uid });
    await raw.handshake();
    await cluster.whenUidEverywhere(uid);
    return raw;
  }

  it('a send to a uid reaches its clients on all three nodes once, in order', async () => {
    const raws = [await rawOn(0, 'everywhere'), await rawOn(1, 'everywhere'), await rawOn(2, 'everywhere')];
    for (let i = 0; i < 50; i++) await at(cluster, 1).call('send', { uid: 'everywhere', event: ['test/n', i] });
    const want = Array.from({ length: 50 }, (_, i) => ['test/n', i]);
    for (const [i, r] of raws.entries()) {
      const got = await pushes(r, 50).catch(() => pushedEvents(r));
      expect(got, `client on node ${i}; logs: ${JSON.stringify(cluster.nodes.map((n) => n.logsSoFar()))}; raw: ${JSON.stringify(r.received).slice(0, 600)}`).toEqual(want);
    }
    for (const r of raws) await r.close();
  });

  it('a send to one client reaches that client on another node and no other client of the uid', async () => {
    const a = await rawOn(0, 'two-tabs');
    const b = await rawOn(2, 'two-tabs');
    await at(cluster, 1).call('sendTo', { uid: 'two-tabs', clientId: b.clientId, event: ['test/only-b', 1] });
    await at(cluster, 1).call('send', { uid: 'two-tabs', event: ['test/both', 2] });
    expect(await pushes(b, 2)).toEqual([['test/only-b', 1], ['test/both', 2]]);
    expect(await pushes(a, 1)).toEqual([['test/both', 2]]);
    await a.close();
    await b.close();
  });

  it('a broadcast reaches every client on every node, named or anonymous', async () => {
    const named = [await rawOn(0, 'bc-0'), await rawOn(1, 'bc-1')];
    const anon = fx.rawWs(at(cluster, 2).port);
    await anon.handshake();
    await at(cluster, 1).call('broadcast', { event: ['test/all', 'hi'] });
    for (const r of [...named, anon]) expect((await pushes(r, 1)).filter((e) => (e as unknown[])[0] === 'test/all')).toEqual([['test/all', 'hi']]);
  });

  it('a server→client request to a client on another node gets its reply back on the asking node', async () => {
    const b = await rawOn(2, 'asked');
    // The raw client answers the request the way a sente-rx client does (WIRE-REQUESTS.md).
    const answered = firstValueFrom(
      b.messages.pipe(
        filter((m): m is [unknown[], null] => Array.isArray(m) && Array.isArray(m[0])),
        filter((m) => (m[0] as unknown[]).some((e) => Array.isArray(e) && e[0] === 'chsk/req')),
        take(1),
        timeout(10_000),
      ),
    ).then((m) => {
      const entry = (m[0] as unknown[]).find((e) => Array.isArray(e) && e[0] === 'chsk/req') as [string, [string, [string, unknown]]];
      const [reqId, [id, data]] = entry[1];
      b.sendJson([['chsk/reply', [reqId, { id, doubled: (data as number) * 2 }]], null]);
    });
    const reply = at(cluster, 0).call('request', { uid: 'asked', clientId: b.clientId, event: ['test/double', 21], timeoutMs: 10_000 });
    await answered;
    expect(await reply).toEqual({ ok: true, value: { id: 'test/double', doubled: 42 } });
    // Nobody holds this client: the asking node learns it at once.
    expect(await at(cluster, 0).call('request', { uid: 'nobody-here', clientId: freshClientId(), event: ['test/double', 1], timeoutMs: 10_000 })).toMatchObject({
      ok: false,
      code: 'chsk/closed',
    });
    await b.close();
  });

  it('connectedUids$ agrees on every node, and uidport open/close fire once for the cluster', async () => {
    const uid = 'presence-once';
    const opens = (): number => cluster.nodes.reduce((s, n) => s + n.recvSoFar((r) => r.id === 'chsk/uidport-open' && r.data === uid), 0);
    const closes = (): number => cluster.nodes.reduce((s, n) => s + n.recvSoFar((r) => r.id === 'chsk/uidport-close' && r.data === uid), 0);
    const raws = [fx.rawWs(at(cluster, 0).port, { uid }), fx.rawWs(at(cluster, 1).port, { uid }), fx.rawWs(at(cluster, 2).port, { uid })];
    await Promise.all(raws.map((r) => r.handshake()));
    await Promise.all(cluster.nodes.map((n) => n.whenUids((any) => any.includes(uid))));
    const open = await Promise.race(cluster.nodes.map((n) => n.nextRecv((r) => r.id === 'chsk/uidport-open' && r.data === uid)));
    expect(open.data).toBe(uid);
    for (const r of raws) await r.close();
    await Promise.all(cluster.nodes.map((n) => n.whenUids((any) => !any.includes(uid))));
    await Promise.race(cluster.nodes.map((n) => n.nextRecv((r) => r.id === 'chsk/uidport-close' && r.data === uid)));
    // Every node has settled its presence (the uid is gone everywhere): count the edges.
    expect(opens()).toBe(1);
    expect(closes()).toBe(1);
    // Other tests' uids may still be leaving: wait for the nodes to agree, whatever on, then ask each.
    const agreed = await cluster.whenUidsSame();
    expect(agreed).not.toContain(uid);
    const all = await Promise.all(cluster.nodes.map((n) => n.call('uids')));
    for (const u of all) expect(u.any).toEqual(agreed);
  });

  it('contract over a two-node cluster: an Ajax client through the proxy handshakes, gets replies from both nodes and pushes from either', async () => {
    const c = fx.client(proxy.port, { type: 'ajax', uid: 'ajax-rr' });
    await whenOpen(c);
    await cluster.whenUidEverywhere('ajax-rr');
    const nodes = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = (await firstValueFrom(c.send(['cluster/echo', i], { timeoutMs: 10_000 }))) as { node: string; data: number };
      expect(r.data).toBe(i);
      nodes.add(r.node);
    }
    expect(nodes.size).toBe(3); // the POSTs went round the three nodes
    const got = nextEvent(c, 'test/to-ajax', 15_000);
    await at(cluster, 2).call('send', { uid: 'ajax-rr', event: ['test/to-ajax', 'x'] });
    expect((await got).data).toBe('x');
  });

  it('an Ajax client round-robined across the three nodes receives 1,000 events once and in order (recovery positions on every poll)', async () => {
    const uid = 'ajax-1000';
    const c = fx.client(proxy.port, { type: 'ajax', uid });
    await whenOpen(c);
    await cluster.whenUidEverywhere(uid);
    const hits0 = cluster.nodes.map((n) => proxy.hits.get(`127.0.0.1:${n.port}`) ?? 0);
    const seen: number[] = [];
    c.recv$.subscribe((m) => {
      if (m.id === 'test/seq') seen.push((m.data as { i: number }).i);
    });
    const want = Array.from({ length: 20 }, () => Array.from({ length: 50 }, (_, i) => i)).flat();
    // 20 rounds of 50, each once the last has arrived, so the events span many polls (and nodes).
    for (let r = 0; r < 20; r++) {
      const round = collect(c.recv$.pipe(filter((m) => m.id === 'test/seq')), 50, 30_000);
      await at(cluster, r % 3).call('burst', { uids: [uid], count: 50, chunk: 10, id: 'test/seq' });
      await round;
    }
    // Then a last event: whatever came between is a duplicate.
    const last = nextEvent(c, 'test/last', 15_000);
    await at(cluster, 2).call('send', { uid, event: ['test/last', 1] });
    await last;
    expect(seen).toEqual(want); // each round's 0..49, rounds in order: once each, in order
    const polled = cluster.nodes.map((n, i) => (proxy.hits.get(`127.0.0.1:${n.port}`) ?? 0) - (hits0[i] ?? 0));
    expect(polled.filter((h) => h > 0), JSON.stringify(polled)).toHaveLength(3); // every node answered some of its polls
  }, 90_000);

  it('a WebSocket client that reconnects to another node gets the events it missed, from the Redis log (recovered: true)', async () => {
    const uid = 'ws-moves';
    proxy.setTargets([{ host: '127.0.0.1', port: at(cluster, 0).port }]);
    const c = fx.client(proxy.port, { uid });
    await whenOpen(c);
    await cluster.whenUidEverywhere(uid);
    await at(cluster, 0).call('settled');
    const before = nextEvent(c, 'test/before');
    await at(cluster, 1).call('send', { uid, event: ['test/before', 0] });
    await before;
    c.disconnect();
    await Promise.all(cluster.nodes.map((n) => n.whenUids((any) => !any.includes(uid), 15_000)));
    // Sent while it is away (no node holds it): only the log keeps them.
    await at(cluster, 2).call('burst', { uids: [uid], count: 200, chunk: 20, id: 'test/missed' });
    await at(cluster, 2).call('settled');
    proxy.setTargets([{ host: '127.0.0.1', port: at(cluster, 1).port }]);
    const missed = collect(c.recv$.pipe(filter((m) => m.id === 'test/missed')), 200, 15_000);
    c.reconnect();
    const got = (await missed).map((m) => (m.data as { i: number }).i);
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(c.state.recovered).toBe(true);
    // Then live events, with nothing replayed twice.
    const live = nextEvent(c, 'test/live');
    await at(cluster, 0).call('send', { uid, event: ['test/live', 1] });
    expect((await live).data).toBe(1);
    c.close();
    proxy.setTargets(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  });

  it('a SIGKILLed node: its users leave presence within the bound, its clients carry on elsewhere', async () => {
    const victim = at(cluster, 2);
    const stays = fx.rawWs(victim.port, { uid: 'gone-with-node' }); // never reconnects
    await stays.handshake();
    proxy.setTargets([{ host: '127.0.0.1', port: victim.port }]);
    const mover = fx.client(proxy.port, { uid: 'mover' }); // reconnects through the proxy
    await whenOpen(mover);
    proxy.setTargets(cluster.nodes.slice(0, 2).map((n) => ({ host: '127.0.0.1', port: n.port })));
    await Promise.all(cluster.nodes.slice(0, 2).map((n) => n.whenUids((any) => any.includes('gone-with-node') && any.includes('mover'))));

    await victim.kill();
    const survivors = cluster.nodes.slice(0, 2);
    // Bounded by the dead-node bound plus generous slack for a loaded machine (event-driven, not a timing claim).
    await Promise.all(survivors.map((n) => n.whenUids((any) => !any.includes('gone-with-node'), DEAD_NODE_BOUND_MS + 10_000)));
    const closes = await Promise.race(survivors.map((n) => n.nextRecv((r) => r.id === 'chsk/uidport-close' && r.data === 'gone-with-node')));
    expect(closes.data).toBe('gone-with-node');

    await whenOpen(mover, 15_000);
    await Promise.all(survivors.map((n) => n.whenUids((any) => any.includes('mover'))));
    await Promise.all(survivors.map((n) => n.call('settled'))); // its new node subscribed to it
    const got = nextEvent(mover, 'test/after-kill');
    await at(cluster, 0).call('send', { uid: 'mover', event: ['test/after-kill', 1] });
    expect((await got).data).toBe(1);
  });
});

describe.skipIf(!available)('a Redis restart under a two-node cluster', () => {
  let redis: RedisServer;
  let cluster: Cluster;
  beforeAll(async () => {
    redis = await RedisServer.start();
    cluster = await startCluster({
      nodes: 2,
      namePrefix: 'r',
      broker: { kind: 'redis', url: redis.url, prefix: prefix(), heartbeatMs: HEARTBEAT_MS, presenceTtlMs: PRESENCE_TTL_MS, retryMs: 50 },
    });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  it('no crash, clients stay connected, sends during the outage are counted and logged as dropped, the client learns recovered: false, delivery resumes', async () => {
    const [a, b] = [at(cluster, 0), at(cluster, 1)];
    const c = fx.client(b.port, { uid: 'through-outage' });
    await whenOpen(c);
    await cluster.whenUidEverywhere('through-outage');
    await b.call('settled');
    const before = await a.call('stats');

    await redis.kill();
    // The broker says it lost Redis (README "Faults"); from then on publishes are dropped, counted, logged.
    await a.nextLog((l) => l.level === 'warn' && l.msg.includes('lost Redis'));
    await a.call('send', { uid: 'through-outage', event: ['test/during', 1] });
    const during = await a.call('stats');
    expect((during?.['dropped'] ?? 0) - (before?.['dropped'] ?? 0)).toBe(1);
    expect(a.logsSoFar().some((l) => l.level === 'warn' && l.msg.includes('dropped'))).toBe(true);

    await redis.restart();
    await Promise.all(
      [a, b].map((n) =>
        n.nextLog((l) => l.level === 'info' && l.msg.includes('Redis is back'), 15_000).catch((err: unknown) => {
          throw new Error(`${n.name} never said Redis is back; its log: ${JSON.stringify(n.logsSoFar())}`, { cause: err });
        }),
      ),
    );
    const after = await a.call('stats');
    expect((after?.['reconnects'] ?? 0) - (before?.['reconnects'] ?? 0)).toBe(1);
    // Presence was re-registered: the uid is still connected on both nodes.
    await cluster.whenUidEverywhere('through-outage');
    await b.call('settled');
    expect(c.state.open).toBe(true);
    // Redis lost the log: the first send after it reveals a new log (sequences restarted), so the
    // client is made to reconnect and told recovered: false (PROTOCOL.md §11.5).
    // (recv$ holds events until its first subscriber: skip the first connect's handshake.)
    const hs = firstValueFrom(c.recv$.pipe(filter((m) => m.id === 'chsk/handshake' && (m.data as unknown[])[2] === false), take(1), timeout(10_000)));
    await a.call('send', { uid: 'through-outage', event: ['test/reveals', 1] });
    expect((await hs).data).toEqual(['through-outage', null, false, false]);
    expect(c.state.recovered).toBe(false);
    await b.call('settled');
    const got = firstValueFrom(c.recv$.pipe(filter((m) => m.id.startsWith('test/') && m.id !== 'test/reveals'), take(1), toArray(), timeout(10_000)));
    await a.call('send', { uid: 'through-outage', event: ['test/after', 2] });
    expect((await got).map((m) => [m.id, m.data])).toEqual([['test/after', 2]]);
    expect(a.alive && b.alive).toBe(true);
  });
});

describe.skipIf(!available)('Redis unreachable when a node starts', () => {
  let redis: RedisServer | undefined;
  let cluster: Cluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  // With recovery on (the default), a client's open needs the log's head: while Redis is down the
  // node answers the open with a server error (PROTOCOL.md §11.5) and the client retries with its
  // backoff, so it opens once Redis is up; the node itself keeps serving and retrying.
  it('the node starts and serves, logs the connection error, retries, and works once Redis is up', async () => {
    const port = await freePort(); // nothing listens there yet
    cluster = await startCluster({
      nodes: 1,
      namePrefix: 'u',
      broker: { kind: 'redis', url: `redis://127.0.0.1:${port}`, prefix: prefix(), heartbeatMs: HEARTBEAT_MS, presenceTtlMs: PRESENCE_TTL_MS, retryMs: 50 },
      node: { waitForBroker: false },
    });
    const node = at(cluster, 0);
    await node.nextLog((l) => l.level === 'warn' && l.msg.includes('Redis connection error'));
    const c = fx.client(node.port, { uid: 'early' }); // the server answers it meanwhile (a retryable error)
    await node.nextLog((l) => l.level === 'warn' && l.msg.includes('recovery start failed')).catch((e: unknown) => { throw new Error(JSON.stringify(node.logsSoFar()), { cause: e }); });
    redis = await RedisServer.start(port);
    await node.nextLog((l) => l.level === 'info' && l.msg.includes('connected'), 15_000);
    await whenOpen(c, 15_000);
    await node.whenUids((any) => any.includes('early'));
    const got = nextEvent(c, 'test/late');
    await node.call('send', { uid: 'early', event: ['test/late', 1] });
    expect((await got).data).toBe(1);
  });
});
