// Recovery (issue 13): `npm run recovery -w @sente-rx/bench [-- --quick] [--json] [--no-redis]`
// (after `npm run build`); also part of the full `npm run bench` (its own section of RESULTS.md)
// and of any run with `--recovery`. In one process, the server core driven through its adapter
// seam with counting fake WebSockets (no network, no client: the figures are the server's own
// work), on the in-memory broker and on `redisBroker` (a private redis-server on a free port):
//   1. server CPU and retained memory per pushed message, recovery on and off (on Redis also the
//      Redis server's CPU and memory per message, from INFO);
//   2. memory per idle user log at the default bound (1,000 events, 2 min): process heap for the
//      in-memory log, MEMORY USAGE of each uid's stream + meta keys in Redis;
//   3. time to recover 1,000 missed events (WebSocket open with a position → replay batch sent).
// Bounded in count; prints a table and writes test-output/recovery.json (`--json`: the results
// as the last line of stdout, for run.ts).

import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Packed, silentLogger, SKIP_CSRF_CHECK } from '@sente-rx/core';
import { RedisServer, redisAvailable } from '@sente-rx/fixtures/redis-server';
import { type RedisBroker, redisBroker } from '@sente-rx/redis';
import { createChannelSocketServer, type RequestInfo, type ServerChannel, type ServerCore, type ServerOptions } from '@sente-rx/server';
import { filter, firstValueFrom, take, timeout } from 'rxjs';
import { type IdleLogRow, type PerMessageRow, type RecoverRow, type RecoveryResult, recoveryTable } from './recovery-report.js';

interface Req {
  readonly uid: string;
}

/** Sizes of one recovery bench run. */
export interface RecoveryBenchConfig {
  /** Per-message figures: WebSocket clients (one per uid) × pushes each. */
  readonly users: number;
  readonly perUser: number;
  /** The same on Redis (every push is a Redis round trip: fewer). */
  readonly redisUsers: number;
  readonly redisPerUser: number;
  /** Idle user logs: uids with no client, each pushed `idleEvents` events. */
  readonly idleUsers: number;
  readonly redisIdleUsers: number;
  readonly idleEvents: number;
  /** Recovery time: missed events per reconnect, reconnects. */
  readonly missed: number;
  readonly rounds: number;
  readonly redisRounds: number;
}

export const RECOVERY_FULL: RecoveryBenchConfig = { users: 1_000, perUser: 50, redisUsers: 200, redisPerUser: 50, idleUsers: 200, redisIdleUsers: 20, idleEvents: 1_000, missed: 1_000, rounds: 21, redisRounds: 11 };
export const RECOVERY_QUICK: RecoveryBenchConfig = { users: 100, perUser: 20, redisUsers: 50, redisPerUser: 10, idleUsers: 10, redisIdleUsers: 3, idleEvents: 1_000, missed: 1_000, rounds: 5, redisRounds: 3 };

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

function makeServer(options: ServerOptions<Req>) {
  let core: ServerCore<Req> | undefined;
  const chsk = createChannelSocketServer<Req, object>(
    { bind: (c) => ((core = c), {}) },
    { userId: (r) => r.uid, csrfToken: () => SKIP_CSRF_CHECK, logger: silentLogger, sendBufMs: { ws: 0, ajax: 0 }, ...options },
  );
  if (core === undefined) throw new Error('no core');
  return { chsk, core };
}

class FakeSocket implements ServerChannel {
  readyState = 1;
  bufferedAmount = 0;
  frames = 0;
  bytes = 0;
  first: string | undefined;
  onFrame: ((data: Packed) => void) | undefined;
  readonly #opened: Promise<void>;
  #open: () => void = () => undefined;
  constructor() {
    this.#opened = new Promise((r) => (this.#open = r));
  }
  /** Resolves at the first frame (the handshake). */
  get opened(): Promise<void> {
    return this.#opened;
  }
  send(data: Packed): void {
    this.frames++;
    this.bytes += data.length;
    if (this.first === undefined && typeof data === 'string') this.first = data;
    if (this.frames === 1) this.#open();
    this.onFrame?.(data);
  }
  close(): void {
    this.readyState = 3;
  }
  terminate(): void {
    this.readyState = 3;
  }
}

const INFO: RequestInfo = { transport: 'ws', method: 'GET', url: '/chsk', headers: {}, remoteAddress: '127.0.0.1' };

function open(core: ServerCore<Req>, uid: string, clientId: string, pos: string | undefined): { socket: FakeSocket; conn: ReturnType<ServerCore<Req>['wsOpen']> } {
  const q = new URLSearchParams({ 'client-id': clientId });
  if (pos !== undefined) q.set('pos', pos);
  const socket = new FakeSocket();
  const conn = core.wsOpen(socket, { method: 'GET', url: `/chsk?${q}`, query: q, header: () => undefined }, { uid }, INFO);
  return { socket, conn };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const event = (i: number): ['app/msg', { text: string; i: number }] => ['app/msg', { text: 'hello world', i }];

// ---- Redis: a private server, INFO and MEMORY USAGE over a raw socket ---------------------------

/** One command, its reply as text (an integer, a status or a bulk string; arrays are not needed here). */
function redisCall(port: number, ...args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('connect', () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      const kind = String.fromCharCode(buf[0] ?? 0);
      if (kind !== '$') {
        sock.destroy();
        if (kind === '-') reject(new Error(buf.subarray(1, nl).toString()));
        else resolve(buf.subarray(1, nl).toString());
        return;
      }
      const len = Number(buf.subarray(1, nl).toString());
      if (len < 0) {
        sock.destroy();
        resolve('');
        return;
      }
      if (buf.length < nl + 2 + len) return;
      sock.destroy();
      resolve(buf.subarray(nl + 2, nl + 2 + len).toString());
    });
  });
}

async function redisInfo(port: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await redisCall(port, 'INFO', 'all')).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** The Redis server's CPU (user + system, µs) and memory (bytes) so far. */
async function redisUsage(port: number): Promise<{ cpuUs: number; memory: number }> {
  const info = await redisInfo(port);
  const n = (k: string): number => Number(info.get(k) ?? Number.NaN);
  return { cpuUs: (n('used_cpu_user') + n('used_cpu_sys')) * 1e6, memory: n('used_memory') };
}

let prefixSeq = 0;
async function makeBroker(redis: RedisServer, recovery: boolean): Promise<{ broker: RedisBroker; prefix: string }> {
  const prefix = `bench${process.pid}x${prefixSeq++}`;
  const broker = redisBroker({ url: redis.url, prefix, logger: silentLogger, ...(recovery ? {} : { recovery: false }) });
  await firstValueFrom(broker.status$.pipe(filter((s) => s === 'ready'), take(1), timeout(10_000)));
  return { broker, prefix };
}

/** Until the broker has delivered `n` more messages than `from` (the bench is not a test: a gentle poll, outside any CPU it measures of its own). */
async function delivered(broker: RedisBroker, from: number, n: number): Promise<void> {
  const bound = Date.now() + 120_000;
  while (broker.stats().delivered - from < n) {
    if (Date.now() > bound) throw new Error(`only ${broker.stats().delivered - from} of ${n} messages came back from Redis`);
    await pause(2);
  }
  await settle();
}

// ---- 1. per pushed message --------------------------------------------------------------------

/** `users` WebSocket clients (announcing recovery), `perUser` pushes each; on `redis` when given. */
async function perMessage(recovery: boolean, users: number, perUser: number, redis?: RedisServer): Promise<PerMessageRow> {
  const rb = redis === undefined ? undefined : await makeBroker(redis, recovery);
  const { chsk, core } = makeServer({ ...(recovery ? {} : { recovery: false }), ...(rb === undefined ? {} : { broker: rb.broker }) });
  const sockets: FakeSocket[] = [];
  for (let u = 0; u < users; u++) sockets.push(open(core, `u${u}`, `c${u}`, '').socket);
  await Promise.all(sockets.map((s) => s.opened));
  await rb?.broker.settled();
  await settle();
  const r0 = redis === undefined ? undefined : await redisUsage(redis.port);
  const d0 = rb?.broker.stats().delivered ?? 0;
  const h0 = heap();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const pushes = users * perUser;
  if (rb === undefined) for (let i = 0; i < perUser; i++) for (let u = 0; u < users; u++) chsk.send(`u${u}`, event(i));
  else {
    // Chunks per macrotask, so ioredis does not queue every command at once.
    for (let i = 0; i < perUser; i++) {
      for (let u = 0; u < users; u++) chsk.send(`u${u}`, event(i));
      await settle();
    }
    await delivered(rb.broker, d0, pushes);
  }
  const wallNs = Number(process.hrtime.bigint() - t0);
  const c1 = process.cpuUsage(c0);
  const h1 = heap();
  const r1 = redis === undefined ? undefined : await redisUsage(redis.port);
  const frames = sockets.reduce((a, s) => a + s.frames, 0) - users; // minus the handshakes
  const bytes = sockets.reduce((a, s) => a + s.bytes, 0);
  await chsk.close();
  await rb?.broker.close(); // a broker passed in is the caller's to close
  return {
    broker: redis === undefined ? 'memory' : 'redis',
    recovery,
    pushes,
    frames,
    cpuUsPerPush: (c1.user + c1.system) / pushes,
    wallUsPerPush: wallNs / 1e3 / pushes,
    retainedBytesPerPush: (h1 - h0) / pushes,
    wireBytesPerPush: bytes / pushes,
    ...(r0 === undefined || r1 === undefined ? {} : { redisCpuUsPerPush: (r1.cpuUs - r0.cpuUs) / pushes, redisBytesPerPush: (r1.memory - r0.memory) / pushes }),
  };
}

// ---- 2. memory per idle user log ---------------------------------------------------------------

/** `users` uids with no client, each pushed `perUser` events (the default bound keeps 1,000): process heap, log on minus log off. */
async function idleLogMemory(users: number, perUser: number): Promise<IdleLogRow> {
  const measure = async (recovery: boolean): Promise<number> => {
    const { chsk } = makeServer(recovery ? {} : { recovery: false });
    const h0 = heap();
    for (let u = 0; u < users; u++) for (let i = 0; i < perUser; i++) chsk.send(`idle${u}`, event(i));
    const h1 = heap();
    await chsk.close();
    return h1 - h0;
  };
  const on = await measure(true);
  const off = await measure(false);
  const kept = users * Math.min(perUser, 1_000);
  return { broker: 'memory', users, eventsPerUser: perUser, bytesPerIdleUserLog: (on - off) / users, bytesPerLoggedEvent: (on - off) / kept };
}

/** The same in Redis: MEMORY USAGE (exact: SAMPLES 0) of each uid's stream and meta hash. */
async function idleLogRedis(redis: RedisServer, users: number, perUser: number): Promise<IdleLogRow> {
  const { broker, prefix } = await makeBroker(redis, true);
  const { chsk } = makeServer({ broker });
  for (let u = 0; u < users; u++) {
    for (let i = 0; i < perUser; i++) chsk.send(`idle${u}`, event(i));
    await settle();
  }
  await broker.settled();
  let total = 0;
  let meta = 0;
  for (let u = 0; u < users; u++) {
    const s = Number(await redisCall(redis.port, 'MEMORY', 'USAGE', `${prefix}:s:u:idle${u}`, 'SAMPLES', '0'));
    const m = Number(await redisCall(redis.port, 'MEMORY', 'USAGE', `${prefix}:m:u:idle${u}`, 'SAMPLES', '0'));
    total += s + m;
    meta += m;
  }
  await chsk.close();
  await broker.close();
  const kept = users * Math.min(perUser, 1_000);
  return { broker: 'redis', users, eventsPerUser: perUser, bytesPerIdleUserLog: total / users, bytesPerLoggedEvent: (total - meta) / kept, metaBytesPerUser: meta / users };
}

// ---- 3. time to recover -------------------------------------------------------------------------

/** Time from a WebSocket open with a position to the replay batch of `missed` events on the socket. */
async function recoverTime(missed: number, rounds: number, redis?: RedisServer): Promise<RecoverRow> {
  const rb = redis === undefined ? undefined : await makeBroker(redis, true);
  const { chsk, core } = makeServer({ reconnectGraceMs: { ws: 0, ajax: 0 }, ...(rb === undefined ? {} : { broker: rb.broker }) });
  const samples: number[] = [];
  let replayBytes = 0;
  for (let r = 0; r < rounds; r++) {
    const uid = `r${r}`;
    const first = open(core, uid, `rc${r}`, '');
    await first.socket.opened;
    const hs = JSON.parse(first.socket.first ?? 'null') as [[string, unknown[]], null];
    const rec = hs[0][1][4] as [string, { pos: string }];
    first.socket.close();
    first.conn.closed(1000);
    for (let i = 0; i < missed; i++) chsk.send(uid, event(i));
    await rb?.broker.settled(); // every missed event is in the Redis log
    await settle();
    const t0 = process.hrtime.bigint();
    const done = new Promise<void>((resolve) => {
      const again = open(core, uid, `rc${r}`, rec[1].pos);
      again.socket.onFrame = (data) => {
        if (again.socket.frames !== 2) return; // handshake, then the replay batch
        replayBytes = data.length;
        resolve();
      };
    });
    await done;
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await chsk.close();
  await rb?.broker.close();
  samples.sort((a, b) => a - b);
  return { broker: redis === undefined ? 'memory' : 'redis', missed, rounds, replayBytes, medianMs: samples[Math.floor(samples.length / 2)] ?? Number.NaN, maxMs: samples[samples.length - 1] ?? Number.NaN };
}

/** The whole scenario; Redis figures when `redis` is true and redis-server is installed. */
export async function runRecovery(cfg: RecoveryBenchConfig, opts: { readonly redis?: boolean; readonly log?: (line: string) => void } = {}): Promise<RecoveryResult> {
  const log = opts.log ?? (() => undefined);
  const perMessageRows: PerMessageRow[] = [];
  const idleRows: IdleLogRow[] = [];
  const recoverRows: RecoverRow[] = [];
  log('recovery: in-memory broker…');
  perMessageRows.push(await perMessage(false, cfg.users, cfg.perUser), await perMessage(true, cfg.users, cfg.perUser));
  idleRows.push(await idleLogMemory(cfg.idleUsers, cfg.idleEvents));
  recoverRows.push(await recoverTime(cfg.missed, cfg.rounds));
  let redisSkipped: string | undefined;
  if (opts.redis === false) redisSkipped = 'not asked (--no-redis)';
  else if (!redisAvailable()) redisSkipped = 'redis-server not found';
  else {
    log('recovery: Redis broker…');
    const redis = await RedisServer.start();
    try {
      perMessageRows.push(await perMessage(false, cfg.redisUsers, cfg.redisPerUser, redis), await perMessage(true, cfg.redisUsers, cfg.redisPerUser, redis));
      idleRows.push(await idleLogRedis(redis, cfg.redisIdleUsers, cfg.idleEvents));
      recoverRows.push(await recoverTime(cfg.missed, cfg.redisRounds, redis));
    } finally {
      await redis.stop();
    }
  }
  return {
    node: process.version,
    gc: (globalThis as { gc?: unknown }).gc !== undefined,
    perMessage: perMessageRows,
    idleLog: idleRows,
    recover: recoverRows,
    ...(redisSkipped === undefined ? {} : { redisSkipped }),
  };
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, 'no-redis': { type: 'boolean', default: false } } });
  if ((globalThis as { gc?: unknown }).gc === undefined) process.stderr.write('warning: run with --expose-gc for memory figures\n');
  const results = await runRecovery(args.quick ? RECOVERY_QUICK : RECOVERY_FULL, { redis: !args['no-redis'], log: (l) => process.stderr.write(`${l}\n`) });
  const out = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'test-output');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'recovery.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`recovery bench (server core, fake sockets, one process${args.quick ? ', quick' : ''})\n${recoveryTable(results)}\n`);
  if (args.json) process.stdout.write(`${JSON.stringify(results)}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
