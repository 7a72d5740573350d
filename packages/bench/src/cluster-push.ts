/**
 * Cross-node push (issue 12's benchmark), per message costs rather than scaling claims (this
 * machine has 2 cores shared by everything: more nodes cannot mean more throughput here).
 *
 *   npm run build && node packages/bench/dist/cluster-push.js [--quick] [--events=20000] [--users=30] [--window=200] [--nodes=1,2,3] [--json]
 *   npm run bench -- --cluster   (also part of the full `npm run bench`: its own section of RESULTS.md)
 *
 * Each configuration starts its own nodes (processes, cluster-node.ts from @sente-rx/fixtures) and
 * one WebSocket client per user in this process, users split evenly over the nodes (user k on node
 * k mod N). Node 0 publishes every event (so with N nodes, (N-1)/N of the traffic crosses nodes), in
 * windows of `window` events round-robin over the users; the next window goes once the last one has
 * arrived (closed loop, bounded in count and time). Each event carries the publish time on the
 * monotonic clock, which every process on the machine shares, so the client measures latency.
 *
 * Latency includes the server's WebSocket send buffer (`sendBufMs.ws`, 30 ms by default).
 *
 * Reported per configuration (memory/1 node as the baseline; redis with 1, 2, 3 nodes):
 * - delivered messages/s and p50/p99 publish→receive latency (this process is also the load, so
 *   both are of the whole machine, labelled as such);
 * - Redis commands and bytes (in and out) per pushed message, from INFO commandstats / stats deltas;
 * - server CPU (all nodes, user+system) per delivered message;
 * - interest routing: per node, messages received from Redis (broker `stats().received`) as a
 *   share of the messages published, when the broker reports it.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChannelSocketClient, type ChannelSocketClient } from '@sente-rx/client';
import { silentLogger } from '@sente-rx/core';
import { startCluster, type Cluster, type ClusterBrokerConfig } from '@sente-rx/fixtures/cluster';
import { RedisServer, REDIS_BIN } from '@sente-rx/fixtures/redis-server';
import { filter, firstValueFrom, take, timeout } from 'rxjs';
import WebSocket from 'ws';
import { type ClusterPushResult, clusterPushTable } from './cluster-report.js';
import { Histogram } from './histogram.js';

/** Sizes of one cross-node push run. */
export interface ClusterPushConfig {
  readonly events: number;
  readonly users: number;
  readonly window: number;
  readonly maxMs: number;
  readonly nodeCounts: readonly number[];
}

export const CLUSTER_PUSH_FULL: ClusterPushConfig = { events: 20_000, users: 30, window: 200, maxMs: 60_000, nodeCounts: [1, 2, 3] };
export const CLUSTER_PUSH_QUICK: ClusterPushConfig = { events: 3_000, users: 30, window: 200, maxMs: 30_000, nodeCounts: [1, 2, 3] };

const NODE_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster-node.js');

const nowMs = (): number => {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
};

/** INFO from a redis-server, over a raw socket (the bench needs no Redis client for this). */
export function redisInfo(port: number, section = 'all'): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('connect', () => sock.write(`INFO ${section}\r\n`));
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      const len = Number(buf.subarray(1, nl).toString());
      if (buf.length < nl + 2 + len) return;
      sock.destroy();
      const out = new Map<string, string>();
      for (const line of buf.subarray(nl + 2, nl + 2 + len).toString().split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
      }
      resolve(out);
    });
  });
}

interface RedisCounters {
  readonly calls: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** Commands executed (all `cmdstat_*` calls, minus the INFO calls themselves) and network bytes. */
async function redisCounters(port: number): Promise<RedisCounters> {
  const info = await redisInfo(port);
  let calls = 0;
  for (const [k, v] of info) if (k.startsWith('cmdstat_') && k !== 'cmdstat_info') calls += Number(/calls=(\d+)/.exec(v)?.[1] ?? 0);
  return { calls, bytesIn: Number(info.get('total_net_input_bytes') ?? 0), bytesOut: Number(info.get('total_net_output_bytes') ?? 0) };
}

function connectClient(port: number, uid: string, onPush: (data: { i: number; t: number }) => void): Promise<ChannelSocketClient> {
  const c = createChannelSocketClient('/chsk', null, {
    type: 'ws',
    host: '127.0.0.1',
    port,
    protocol: 'http:',
    params: { uid },
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    storage: null,
    logger: silentLogger,
  });
  c.recv$.subscribe((m) => {
    if (m.id === 'bench/xpush') onPush(m.data as { i: number; t: number });
  });
  return firstValueFrom(c.state$.pipe(filter(([, s]) => s.open), take(1), timeout(30_000))).then(() => c);
}

export async function runClusterPush(cfg: ClusterPushConfig, label: string, broker: ClusterBrokerConfig, nodes: number, redisPort: number | undefined): Promise<ClusterPushResult> {
  const { events: EVENTS, users: USERS, window: WINDOW, maxMs: MAX_MS } = cfg;
  const WARMUP = Math.min(2_000, Math.floor(EVENTS / 10));
  const cluster: Cluster = await startCluster({
    nodes,
    broker,
    nodeScript: NODE_SCRIPT,
    node: { forwardRecv: false, forwardUids: false, logLevels: ['warn', 'error'] },
  });
  const clients: ChannelSocketClient[] = [];
  try {
    const hist = new Histogram();
    let got = 0;
    let measuring = false;
    let wake: (() => void) | undefined;
    const onPush = ({ t }: { t: number }): void => {
      got++;
      if (measuring) hist.record(nowMs() - t);
      wake?.();
    };
    const uids = Array.from({ length: USERS }, (_, k) => `bench-u${k}`);
    for (const [k, uid] of uids.entries()) {
      const node = cluster.nodes[k % nodes];
      if (node === undefined) throw new Error('no node');
      clients.push(await connectClient(node.port, uid, onPush));
    }
    // Presence must have reached every node (the publisher routes by it).
    await Promise.all(cluster.nodes.map((n) => n.call('uids').then(() => undefined)));
    const publisher = cluster.nodes[0];
    if (publisher === undefined) throw new Error('no publisher');
    const deadline = nowMs() + MAX_MS;
    const pump = async (count: number): Promise<void> => {
      const target = got + count;
      for (let sent = 0; sent < count; sent += WINDOW) {
        const n = Math.min(WINDOW, count - sent);
        const want = got + n;
        await publisher.call('burst', { uids, count: n, chunk: n, id: 'bench/xpush' });
        while (got < want) {
          if (nowMs() > deadline) throw new Error(`${label}: ${got - (target - count)} of ${count} delivered within ${MAX_MS} ms`);
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 1_000);
          });
        }
      }
    };
    await pump(WARMUP);
    const cpu0 = await Promise.all(cluster.nodes.map((n) => n.call('cpu')));
    const stats0 = await Promise.all(cluster.nodes.map((n) => n.call('stats')));
    const redis0 = redisPort === undefined ? undefined : await redisCounters(redisPort);
    measuring = true;
    const t0 = nowMs();
    await pump(EVENTS);
    const elapsed = nowMs() - t0;
    measuring = false;
    const redis1 = redisPort === undefined ? undefined : await redisCounters(redisPort);
    const cpu1 = await Promise.all(cluster.nodes.map((n) => n.call('cpu')));
    const stats1 = await Promise.all(cluster.nodes.map((n) => n.call('stats')));
    const cpuUs = cpu1.reduce((s, c, i) => s + c - (cpu0[i] ?? 0), 0);
    const per = (x: number | undefined): number | undefined => (x === undefined ? undefined : x / EVENTS);
    return {
      label,
      nodes,
      delivered: EVENTS,
      ratePerS: (EVENTS / elapsed) * 1e3,
      p50Ms: hist.quantile(0.5),
      p99Ms: hist.quantile(0.99),
      serverCpuUsPerMsg: cpuUs / EVENTS,
      // Each INFO call the bench makes is excluded; the brokers' heartbeats are not (a few per second).
      redisCmdsPerMsg: per(redis1 && redis0 && redis1.calls - redis0.calls),
      redisBytesInPerMsg: per(redis1 && redis0 && redis1.bytesIn - redis0.bytesIn),
      redisBytesOutPerMsg: per(redis1 && redis0 && redis1.bytesOut - redis0.bytesOut),
      shares: stats1.map((s, i) => {
        const before = stats0[i]?.['received'];
        const after = s?.['received'];
        return before === undefined || after === undefined ? undefined : (after - before) / EVENTS;
      }),
    };
  } finally {
    for (const c of clients) c.close();
    await cluster.stop();
  }
}

/** The in-memory baseline, then redisBroker on each node count (own redis-server); without redis-server, only the baseline. */
export async function runClusterPushSuite(cfg: ClusterPushConfig, log: (line: string) => void = () => undefined): Promise<ClusterPushResult[]> {
  const rows: ClusterPushResult[] = [];
  log(`cluster push: ${cfg.events} events to ${cfg.users} users, windows of ${cfg.window}`);
  rows.push(await runClusterPush(cfg, 'memory', { kind: 'memory' }, 1, undefined));
  if (REDIS_BIN === undefined) {
    log('no redis-server: only the in-memory baseline (install redis-server for the cluster rows)');
    return rows;
  }
  const redis = await RedisServer.start();
  try {
    for (const n of cfg.nodeCounts) {
      log(`cluster push: redis, ${n} node(s)`);
      rows.push(await runClusterPush(cfg, 'redis', { kind: 'redis', url: redis.url, prefix: `bench-${process.pid}-${n}` }, n, redis.port));
    }
  } finally {
    await redis.stop();
  }
  return rows;
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string' },
      users: { type: 'string' },
      window: { type: 'string' },
      'max-ms': { type: 'string' },
      nodes: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const base = args.quick ? CLUSTER_PUSH_QUICK : CLUSTER_PUSH_FULL;
  const num = (raw: string | undefined, dflt: number): number => (raw === undefined ? dflt : Number(raw));
  const cfg: ClusterPushConfig = {
    events: num(args.events, base.events),
    users: num(args.users, base.users),
    window: num(args.window, base.window),
    maxMs: num(args['max-ms'], base.maxMs),
    nodeCounts: args.nodes === undefined ? base.nodeCounts : args.nodes.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0),
  };
  const rows = await runClusterPushSuite(cfg, (l) => console.error(l));
  console.log(args.json ? JSON.stringify(rows) : clusterPushTable(rows));
  process.exit(0);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
