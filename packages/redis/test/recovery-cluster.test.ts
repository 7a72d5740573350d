/**
 * Recovery on a cluster of server PROCESSES on one private redis-server (issue 13): the log lives
 * in Redis, so a client whose node is SIGKILLed, or whose whole cluster is restarted (every node
 * process stopped and new ones started on the same Redis), comes back on another node and gets
 * every event sent while it was away, once, in order, then live events, with `recovered: true`.
 * Over WebSocket and Ajax. The client reaches the cluster through a round-robin proxy whose target
 * list the test sets (the load balancer); nodes are forked by @sente-rx/fixtures/cluster.
 * Waits are on events, each bounded; nothing sleeps.
 *
 * Without redis-server this file skips loudly, except under CI=true, where it fails.
 */
import { filter, firstValueFrom, take, timeout } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelSocketClient } from '@sente-rx/client';
import { silentLogger } from '@sente-rx/core';
import { nextData, recordData, useFixtures, whenOpen } from '@sente-rx/fixtures';
import { startCluster, type Cluster, type ClusterNode } from '@sente-rx/fixtures/cluster';
import { RedisServer, redisAvailable } from '@sente-rx/fixtures/redis-server';
import { startRoundRobinProxy, type RoundRobinProxy } from '@sente-rx/fixtures/round-robin-proxy';

const available = redisAvailable();
const fx = useFixtures();
const TYPES = ['ws', 'ajax'] as const;

const HEARTBEAT_MS = 150;
const PRESENCE_TTL_MS = 450;
/** Events sent while the client is away: more than one history page (500). */
const MISSED = 600;
/** Per phase of the restart test (before and after it): together within the log's default bound (1,000). */
const PER_PHASE = 400;

let prefixSeq = 0;
const prefix = (): string => `rc${process.pid}x${prefixSeq++}`;

const target = (n: ClusterNode): { host: string; port: number } => ({ host: '127.0.0.1', port: n.port });
const seqs = (from: number, n: number): { i: number }[] => Array.from({ length: n }, (_, i) => ({ i: from + i }));
/** `burst` data carries `{ i, t }`: keep the index. */
const indices = (data: readonly unknown[]): { i: number }[] => data.map((d) => ({ i: (d as { i: number }).i }));

describe.skipIf(!available)('recovery on a Redis cluster: a SIGKILLed node, a restart of every node', () => {
  let redis: RedisServer;
  let cluster: Cluster;
  let proxy: RoundRobinProxy;

  beforeAll(async () => {
    redis = await RedisServer.start();
    cluster = await startCluster({
      nodes: 0,
      namePrefix: 'rc',
      broker: { kind: 'redis', url: redis.url, prefix: prefix(), heartbeatMs: HEARTBEAT_MS, presenceTtlMs: PRESENCE_TTL_MS },
    });
    proxy = await startRoundRobinProxy([]);
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await cluster?.stop();
    await redis?.stop();
  });

  /** A client of `uid` through the proxy, open on `node` (the proxy's only target), which holds and subscribed to it. */
  async function clientOn(node: ClusterNode, uid: string, type: (typeof TYPES)[number]): Promise<ChannelSocketClient> {
    proxy.setTargets([target(node)]);
    const c = fx.client(proxy.port, { uid, type, logger: silentLogger });
    await whenOpen(c, 15_000);
    await node.whenUids((any) => any.includes(uid));
    await node.call('settled');
    return c;
  }

  /** `n` live events from `from` reach the client (its position moves past them). */
  async function live(c: ChannelSocketClient, from: ClusterNode, uid: string, id: string, n: number): Promise<void> {
    const got = nextData(c, id, n, 15_000);
    for (let i = 0; i < n; i++) await from.call('send', { uid, event: [id, i] });
    expect(await got).toEqual(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * The client comes back through `to` and gets `expected` (`test/missed` indices) in order, each
   * once, with `recovered: true`; then a live event from `sender`, after which nothing more of
   * the missed ones arrived (so none was replayed twice).
   */
  async function comesBack(c: ChannelSocketClient, to: ClusterNode, sender: ClusterNode, uid: string, expected: readonly { i: number }[]): Promise<void> {
    const all = recordData(c, 'test/missed');
    const missed = nextData(c, 'test/missed', expected.length, 30_000);
    const hs = firstValueFrom(c.recv$.pipe(filter((m) => m.id === 'chsk/handshake' && (m.data as unknown[])[2] === false), take(1), timeout(30_000)));
    proxy.setTargets([target(to)]);
    expect((await hs).data).toEqual([uid, null, false, true]);
    expect(c.state.recovered).toBe(true);
    expect(indices(await missed)).toEqual(expected);
    await to.call('settled');
    const after = nextData(c, 'test/live', 1, 15_000);
    await sender.call('send', { uid, event: ['test/live', 'after'] });
    expect(await after).toEqual(['after']);
    expect(indices(all)).toEqual(expected);
    expect(c.state.open).toBe(true);
  }

  describe.each(TYPES)('over %s', (type) => {
    it(`SIGKILL of the client's node: it reconnects to another node and gets the ${MISSED} events sent meanwhile, once, in order, then live ones (recovered: true)`, async () => {
      const uid = `killed-node-${type}`;
      const survivor = await cluster.addNode();
      const victim = await cluster.addNode();
      const c = await clientOn(victim, uid, type);
      await live(c, survivor, uid, 'test/before', 3);

      await victim.kill(); // its connection to the client breaks; the proxy has nowhere else to go
      // Sent while no node holds the client: only the Redis log keeps them.
      await survivor.call('burst', { uids: [uid], count: MISSED, chunk: 50, id: 'test/missed' });
      await survivor.call('settled');
      await comesBack(c, survivor, survivor, uid, seqs(0, MISSED));
    }, 90_000);

    it(`a restart of every node: the log kept in Redis covers the gap, so the client recovers all ${2 * PER_PHASE} events sent before and after the restart (recovered: true)`, async () => {
      const uid = `restarted-${type}`;
      const a = await cluster.addNode();
      const b = await cluster.addNode();
      const c = await clientOn(a, uid, type);
      await live(c, b, uid, 'test/before', 3);

      await a.stop(); // the client's node goes first: the client is away from here on
      await b.call('burst', { uids: [uid], count: PER_PHASE, chunk: 50, id: 'test/missed' });
      await b.call('settled');
      // Then every node process still running, so none of this cluster's processes outlives the restart.
      await Promise.all(cluster.nodes.filter((n) => n.alive).map((n) => n.stop()));
      expect(cluster.nodes.some((n) => n.alive)).toBe(false);

      // New processes on the same Redis; more events while the client is still away.
      const a2 = await cluster.addNode();
      const b2 = await cluster.addNode();
      await b2.call('burst', { uids: [uid], count: PER_PHASE, chunk: 50, id: 'test/missed' });
      await b2.call('settled');
      await comesBack(c, a2, b2, uid, seqs(0, PER_PHASE).concat(seqs(0, PER_PHASE)));
    }, 120_000);
  });
});
