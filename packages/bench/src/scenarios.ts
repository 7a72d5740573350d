// One run of one scenario for one implementation: spawn the server (core 0) and the load
// generators (core 1), drive them through the phases, sample CPU and counters at the window's
// edges, check the counts add up, and stop every process whatever happens.

import path from 'node:path';
import type { BenchConfig, ConnRateConfig, IdleConfig, LatencyConfig, PresenceConfig, PushConfig, ReqRepConfig } from './config.js';
import { Histogram } from './histogram.js';
import type { MetricKey } from './metrics.js';
import { Child, childFdLimit, loaderNodeFlags, machineBusyUs, type Pinning } from './procs.js';
import { SENTE_FLUSH, SENTE_WIRE, type ClientKind, type ConnectResult, type Impl, type LoaderMark, type MemorySample, type PushStartArgs, type PushStopResult, type ServerMark, type Transport } from './types.js';

export interface Check {
  readonly scenario: string;
  readonly impl: Impl;
  readonly run: number;
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface RunOutcome {
  readonly values: Partial<Record<MetricKey, number>>;
  readonly checks: readonly Omit<Check, 'scenario' | 'impl' | 'run'>[];
}

export interface Env {
  readonly distDir: string;
  readonly pinning: Pinning;
  readonly config: BenchConfig;
}

const SCRIPT: Record<Impl, string> = { 'sente-rx': 'sente', 'sente-rx/wire': 'sente', 'sente-rx/flush': 'sente', ws: 'ws', 'ws/aa': 'ws', 'socket.io': 'sio' };

const started = Date.now();
/** Phase timings on stderr when SENTE_RX_BENCH_TRACE is set. */
function trace(what: string): void {
  if (process.env['SENTE_RX_BENCH_TRACE']) process.stderr.write(`  [${((Date.now() - started) / 1000).toFixed(2)} s] ${what}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The share of `total` that loader `i` of `n` takes. */
function share(total: number, n: number, i: number): number {
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

interface Session {
  readonly server: Child;
  readonly loaders: readonly Child[];
  readonly port: number;
}

interface SessionOptions {
  /** Load-generator processes, when not the configuration's. */
  readonly loaders?: number;
  /** The client kind, when not the implementation's own. */
  readonly kind?: ClientKind;
  /** Extra server options (`BenchServer` config `options`), merged over the implementation's own. */
  readonly serverOptions?: Record<string, unknown>;
}

async function withSession<T>(env: Env, impl: Impl, transport: Transport, fn: (s: Session) => Promise<T>, options: SessionOptions = {}): Promise<T> {
  const script = (role: string): string => path.join(env.distDir, 'impl', `${SCRIPT[impl]}-${role}.js`);
  const kind: ClientKind = options.kind ?? (impl === SENTE_WIRE ? 'wire' : 'lib');
  const implOptions = impl === SENTE_FLUSH ? { flush: true } : {};
  const serverConfig = options.serverOptions === undefined && impl !== SENTE_FLUSH ? {} : { options: { ...implOptions, ...options.serverOptions } };
  const children: Child[] = [];
  try {
    // All processes start at once; the load generators learn the port with their first command.
    const server = new Child(`${impl} server`, script('server'), serverConfig, { core: env.pinning.server, exposeGc: true });
    children.push(server);
    const loaders = Array.from({ length: options.loaders ?? env.config.loaders }, (_, i) => {
      const child = new Child(`${impl} loader ${i}`, script('loader'), { transport, kind }, { core: env.pinning.load, nodeFlags: loaderNodeFlags() });
      children.push(child);
      return child;
    });
    const [{ port }] = await Promise.all([server.ready, ...loaders.map((l) => l.ready)]);
    if (port === undefined) throw new Error(`${impl} server reported no port`);
    trace(`${impl}: processes ready`);
    return await fn({ server, loaders, port });
  } finally {
    trace(`${impl}: stopping`);
    // Loaders first, so the server sees ordinary closes rather than a dead peer.
    await Promise.all(children.slice(1).map((c) => c.stop()));
    await children[0]?.stop();
    trace(`${impl}: stopped`);
  }
}

interface ConnectAllArgs {
  readonly count: number;
  readonly users: number;
  readonly uid?: string;
  /** Handshakes in flight per load generator; `Infinity` opens all at once. */
  readonly concurrency: number;
  /** Index of the first client (uids are `u${index % users}`), so successive calls can add new users. */
  readonly offset?: number;
}

async function connectAll({ loaders, port }: Session, args: ConnectAllArgs): Promise<ConnectResult> {
  let offset = args.offset ?? 0;
  const timeoutMs = 60_000 + args.count * 10;
  const parts = await Promise.all(
    loaders.map((l, i) => {
      const count = share(args.count, loaders.length, i);
      const p = l.request<ConnectResult>('connect', { ...args, port, count, offset, concurrency: Math.min(count, args.concurrency), timeoutMs: 30_000 }, timeoutMs);
      offset += count;
      return p;
    }),
  );
  return {
    opened: parts.reduce((a, p) => a + p.opened, 0),
    failed: parts.reduce((a, p) => a + p.failed, 0),
    elapsedMs: Math.max(...parts.map((p) => p.elapsedMs)),
    ...(parts.find((p) => p.firstError)?.firstError ? { firstError: parts.find((p) => p.firstError)?.firstError } : {}),
  };
}

function connectCheck(name: string, want: number, got: ConnectResult): RunOutcome['checks'][number] {
  return { name, ok: got.opened === want && got.failed === 0, detail: `${got.opened}/${want} opened${got.firstError ? `; first error: ${got.firstError}` : ''}` };
}

interface Marks {
  readonly server: ServerMark;
  readonly loaders: LoaderMark[];
  readonly machineBusyUs: number;
  readonly orchestratorCpuUs: number;
}

/** Samples the server, every load generator and the machine at (nearly) the same instant. */
async function markAll(s: Session): Promise<Marks> {
  const [server, ...loaders] = await Promise.all([s.server.request<ServerMark>('mark'), ...s.loaders.map((l) => l.request<LoaderMark>('mark'))]);
  const own = process.cpuUsage();
  return { server: server as ServerMark, loaders: loaders as LoaderMark[], machineBusyUs: machineBusyUs(), orchestratorCpuUs: own.user + own.system };
}

interface Window {
  readonly seconds: number;
  readonly serverCpuUs: number;
  readonly loadCpuUs: number;
  readonly replies: number;
  readonly delivered: number;
  /** WebSocket frames the load generators received (0 where they do not count them). */
  readonly frames: number;
  readonly hist: Histogram;
  /** CPU used on the machine by anything but this benchmark's processes (other work: noise). */
  readonly otherCpuUs: number;
}

function windowBetween(a: Marks, b: Marks): Window {
  const hist = new Histogram();
  for (const l of b.loaders) hist.merge(l.hist);
  const sum = (marks: LoaderMark[], f: (m: LoaderMark) => number): number => marks.reduce((acc, m) => acc + f(m), 0);
  const serverCpuUs = b.server.cpuUs - a.server.cpuUs;
  const loadCpuUs = sum(b.loaders, (m) => m.cpuUs) - sum(a.loaders, (m) => m.cpuUs);
  const ours = serverCpuUs + loadCpuUs + (b.orchestratorCpuUs - a.orchestratorCpuUs);
  return {
    seconds: (b.server.tMs - a.server.tMs) / 1000,
    serverCpuUs,
    loadCpuUs,
    otherCpuUs: Math.max(0, b.machineBusyUs - a.machineBusyUs - ours),
    replies: sum(b.loaders, (m) => m.replies) - sum(a.loaders, (m) => m.replies),
    delivered: sum(b.loaders, (m) => m.delivered) - sum(a.loaders, (m) => m.delivered),
    frames: sum(b.loaders, (m) => m.frames) - sum(a.loaders, (m) => m.frames),
    hist,
  };
}

const cpuPct = (w: Window, us: number): number => (us / (w.seconds * 1e6)) * 100;

// 1. Idle memory ------------------------------------------------------------------------------

export function runIdle(env: Env, impl: Impl, cfg: IdleConfig): Promise<RunOutcome> {
  return withSession(env, impl, 'ws', async (s) => {
    const checks: RunOutcome['checks'][number][] = [];
    const warm = await connectAll(s, { count: cfg.warm, users: 1, uid: 'warm', concurrency: 16 });
    checks.push(connectCheck('warm-up connections opened', cfg.warm, warm));
    await sleep(cfg.settleMs);
    const before = await s.server.request<MemorySample>('mem');
    const opened = await connectAll(s, { count: cfg.conns, users: Math.max(1, Math.floor(cfg.conns / 10)), concurrency: 200 });
    checks.push(connectCheck('connections opened', cfg.conns, opened));
    await sleep(cfg.settleMs);
    const after = await s.server.request<MemorySample>('mem');
    return {
      values: { 'idle.heap': (after.heapUsed - before.heapUsed) / cfg.conns, 'idle.rss': (after.rss - before.rss) / cfg.conns },
      checks,
    };
  });
}

// 2. Request/reply ----------------------------------------------------------------------------

export function runReqRep(env: Env, impl: Impl, cfg: ReqRepConfig): Promise<RunOutcome> {
  return withSession(env, impl, 'ws', async (s) => {
    const checks: RunOutcome['checks'][number][] = [];
    checks.push(connectCheck('clients connected', cfg.clients, await connectAll(s, { count: cfg.clients, users: cfg.clients, concurrency: 50 })));
    await Promise.all(s.loaders.map((l) => l.request('reqrep-start')));
    await sleep(cfg.warmupMs);
    const a = await markAll(s);
    await sleep(cfg.durationMs);
    const b = await markAll(s);
    const stops = await Promise.all(s.loaders.map((l) => l.request<{ replies: number; errors: number; outstanding: number }>('reqrep-stop', { timeoutMs: 10_000 }, 20_000)));
    const served = (await s.server.request<ServerMark>('mark')).repliesSent;
    const received = stops.reduce((acc, r) => acc + r.replies, 0);
    const errors = stops.reduce((acc, r) => acc + r.errors + r.outstanding, 0);
    checks.push({ name: 'replies sent = replies received', ok: served === received && received > 0, detail: `server sent ${served}, clients received ${received}` });
    checks.push({ name: 'no request failed', ok: errors === 0, detail: `${errors} failed or unanswered` });
    const w = windowBetween(a, b);
    return {
      values: {
        'reqrep.rate': w.replies / w.seconds,
        'reqrep.cpu': w.serverCpuUs / w.replies,
        'reqrep.p50': w.hist.quantile(0.5),
        'reqrep.p99': w.hist.quantile(0.99),
        'reqrep.loadCpu': w.loadCpuUs / w.replies,
        'reqrep.srvPct': cpuPct(w, w.serverCpuUs),
        'reqrep.loadPct': cpuPct(w, w.loadCpuUs),
        'reqrep.otherPct': cpuPct(w, w.otherCpuUs),
      },
      checks,
    };
  });
}

// 3 and 4. Push fan-out, over WebSocket or long-polling ----------------------------------------

type Phase = (args: Omit<PushStartArgs, 'maxMs'>, warmupMs: number, durationMs: number) => Promise<Window>;

/**
 * Starts the closed push loop: each load generator reports its delivered total (every 5 ms, or
 * on every push when `immediate`); the sum, less what earlier phases sent, is the server's credit.
 * Returns one measured phase at a time; each must deliver everything it sent (a check).
 */
async function closedLoop(s: Session, checks: RunOutcome['checks'][number][], immediate: boolean): Promise<Phase> {
  const totals = s.loaders.map(() => 0);
  const deliveredSum = (): number => totals.reduce((a, b) => a + b, 0);
  let base = 0;
  let expected = 0;
  s.loaders.forEach((l, i) =>
    l.on((ev) => {
      if (ev.type !== 'delivered') return;
      totals[i] = ev.total;
      s.server.notify('credit', { delivered: deliveredSum() - base });
    }),
  );
  await Promise.all(s.loaders.map((l) => l.request('push-listen', { on: true, immediate })));

  return async (args, warmupMs, durationMs) => {
    base = expected;
    await s.server.request('push-start', { ...args, maxMs: warmupMs + durationMs + 10_000 });
    await sleep(warmupMs);
    const a = await markAll(s);
    await sleep(durationMs);
    const b = await markAll(s);
    const stopped = await s.server.request<PushStopResult>('push-stop');
    expected += stopped.deliveries;
    // Drain: everything sent must arrive before the next phase (bounded wait).
    const deadline = Date.now() + 15_000;
    while (deliveredSum() < expected && Date.now() < deadline) await sleep(20);
    await sleep(50);
    const got = deliveredSum();
    const name = args.window === args.clientsPerUser ? 'one at a time' : args.ratePerSec ? 'paced' : 'saturation';
    checks.push({ name: `${name}: delivered = sent`, ok: got === expected && stopped.deliveries > 0, detail: `sent ${expected}, delivered ${got}` });
    return windowBetween(a, b);
  };
}

export function runPush(env: Env, impl: Impl, cfg: PushConfig, transport: Transport): Promise<RunOutcome> {
  const scenario = transport === 'ws' ? 'fanout' : 'longpoll';
  return withSession(env, impl, transport, async (s) => {
    const checks: RunOutcome['checks'][number][] = [];
    const clients = cfg.users * cfg.clientsPerUser;
    checks.push(connectCheck('clients connected', clients, await connectAll(s, { count: clients, users: cfg.users, concurrency: 50 })));
    const phase = await closedLoop(s, checks, false);

    const sat = await phase({ users: cfg.users, clientsPerUser: cfg.clientsPerUser, window: cfg.window }, cfg.warmupMs, cfg.durationMs);
    const values: RunOutcome['values'] = {
      [`${scenario}.rate`]: sat.delivered / sat.seconds,
      [`${scenario}.cpu`]: sat.serverCpuUs / sat.delivered,
      [`${scenario}.p50`]: sat.hist.quantile(0.5),
      [`${scenario}.p99`]: sat.hist.quantile(0.99),
      [`${scenario}.srvPct`]: cpuPct(sat, sat.serverCpuUs),
      [`${scenario}.loadPct`]: cpuPct(sat, sat.loadCpuUs),
      [`${scenario}.otherPct`]: cpuPct(sat, sat.otherCpuUs),
    };
    if (transport === 'ws' && sat.frames > 0) {
      // What batching buys the clients: at saturation the load generator pays per frame (a socket
      // read, the WebSocket parse, the client's handler) far more than per event.
      values['fanout.perFrame'] = sat.delivered / sat.frames;
      values['fanout.loadFrameCpu'] = sat.loadCpuUs / sat.frames;
    }
    if (transport === 'ws' && cfg.pacedRate > 0) {
      const paced = await phase(
        { users: cfg.users, clientsPerUser: cfg.clientsPerUser, window: cfg.pacedRate, ratePerSec: cfg.pacedRate },
        Math.min(500, cfg.warmupMs),
        cfg.pacedMs,
      );
      values['fanout.pacedP50'] = paced.hist.quantile(0.5);
      values['fanout.pacedP99'] = paced.hist.quantile(0.99);
    }
    await Promise.all(s.loaders.map((l) => l.request('push-listen', { on: false })));
    return { values, checks };
  });
}

// 7. Latency at low load (issue 10): one push in flight, to an idle user ---------------------

export function runLatency(env: Env, impl: Impl, cfg: LatencyConfig): Promise<RunOutcome> {
  return withSession(env, impl, 'ws', async (s) => {
    const checks: RunOutcome['checks'][number][] = [];
    checks.push(connectCheck('clients connected', cfg.users, await connectAll(s, { count: cfg.users, users: cfg.users, concurrency: 50 })));
    // The load generator reports every push at once, so the next leaves as soon as the last
    // arrived; pushes go round-robin, so each user has been idle for `users` pushes.
    const phase = await closedLoop(s, checks, true);
    const w = await phase({ users: cfg.users, clientsPerUser: 1, window: 1 }, cfg.warmupMs, cfg.durationMs);
    await Promise.all(s.loaders.map((l) => l.request('push-listen', { on: false })));
    checks.push({ name: 'pushes measured', ok: w.hist.total > 0, detail: `${w.hist.total}` });
    return {
      values: {
        'latency.p50': w.hist.quantile(0.5),
        'latency.p99': w.hist.quantile(0.99),
        'latency.samples': w.hist.total,
        'latency.otherPct': cpuPct(w, w.otherCpuUs),
      },
      checks,
    };
  });
}

// 8. Presence (issue 9 item 5): server CPU per connect as distinct users accumulate -----------

/** File descriptors a server keeps besides its sockets (stdio, IPC, epoll, the listener, spare). */
const FD_RESERVE = 100;
/** Warm-up users are `u1000000000`…, never one of the measured ones. */
const WARM_UP_OFFSET = 1_000_000_000;
/** Longer than sente-rx's WebSocket reconnect grace (2,500 ms) and Socket.IO's close handling. */
const WARM_UP_SETTLE_MS = 3_500;

export interface PresenceBatch {
  /** Users connected once the batch was in. */
  readonly users: number;
  readonly cpuPerConnectUs: number;
}

/** Presence outcomes also carry every batch, for the note that shows the whole progression. */
export interface PresenceOutcome extends RunOutcome {
  readonly batches: readonly PresenceBatch[];
  /** The top level actually reached, when the fd limit lowered it. */
  readonly cappedTo?: number;
}

export function runPresence(env: Env, impl: Impl, cfg: PresenceConfig): Promise<PresenceOutcome> {
  // sente-rx is loaded by wire-protocol sockets here: the server's work per handshake is the
  // same, and 20,000 RxJS clients would only slow the load side down.
  const kind: ClientKind = impl === 'sente-rx' ? 'wire' : 'lib';
  return withSession(
    env,
    impl,
    'ws',
    async (s) => {
      const t0 = Date.now();
      const checks: RunOutcome['checks'][number][] = [];
      // Warm-up: a batch of distinct users (the path measured: a new uid each), opened and closed
      // again, so JIT, heap growth and lazy first-connect costs stay out of the first measured batch
      // (and out of the fds). Then a wait past every server's reconnect grace (sente-rx: 2.5 s), so
      // the warm-up users' departures are not billed to the first batch.
      checks.push(connectCheck('warm-up connections opened', cfg.batch, await connectAll(s, { count: cfg.batch, users: Number.MAX_SAFE_INTEGER, offset: WARM_UP_OFFSET, concurrency: 64 })));
      await Promise.all(s.loaders.map((l) => l.request('close-all')));
      await sleep(WARM_UP_SETTLE_MS);
      // One process holds every server socket: the top level may have to stay under its fd limit.
      const maxUsers = childFdLimit() - FD_RESERVE;
      const levels = cfg.levels.map((l) => Math.min(l, maxUsers));
      const top = levels[levels.length - 1]!;
      const batches: PresenceBatch[] = [];
      const atLevel: number[] = [];
      let users = 0;
      let first: Marks | undefined;
      let last: Marks | undefined;
      while (users < top && Date.now() - t0 < cfg.maxMs) {
        // Batches of `batch` new users, cut short at each level so every level ends a batch.
        const next = Math.min(users + cfg.batch, ...levels.filter((l) => l > users));
        const a = await markAll(s);
        const got = await connectAll(s, { count: next - users, users: Number.MAX_SAFE_INTEGER, offset: users, concurrency: 64 });
        await sleep(100); // work the connects left behind (timers, deferred emissions) counts too
        const b = await markAll(s);
        first ??= a;
        last = b;
        if (got.opened !== next - users || got.failed > 0) {
          checks.push(connectCheck(`batch to ${next} users opened`, next - users, got));
          break;
        }
        users = next;
        const cpu = (b.server.cpuUs - a.server.cpuUs) / got.opened;
        batches.push({ users, cpuPerConnectUs: cpu });
        if (levels.includes(users)) atLevel.push(cpu);
      }
      checks.push({ name: 'every level reached within the time cap', ok: users === top, detail: `${users.toLocaleString('en-US')} of ${top.toLocaleString('en-US')} users in ${((Date.now() - t0) / 1000).toFixed(0)} s (cap ${cfg.maxMs / 1000} s)` });
      const values: RunOutcome['values'] = {};
      const [c1, c2, c3] = atLevel;
      if (c1 !== undefined) values['presence.cpu1'] = c1;
      if (c2 !== undefined) values['presence.cpu2'] = c2;
      if (c3 !== undefined && c1 !== undefined) {
        values['presence.cpu3'] = c3;
        values['presence.growth'] = c3 / c1;
      }
      if (first && last) {
        const w = windowBetween(first, last);
        values['presence.otherPct'] = cpuPct(w, w.otherCpuUs);
      }
      return { values, checks, batches, ...(top < cfg.levels[cfg.levels.length - 1]! ? { cappedTo: top } : {}) };
    },
    // Each load generator holds its share of the sockets under its own fd limit. Keep-alive pings
    // are off for every implementation that has them (sente-rx every 12.5 s idle, Socket.IO every
    // 25 s): they cost per held connection per second, so in a batch's window they grow with the
    // users held times the batch's wall time, which a busy machine stretches, not with the connects.
    { loaders: Math.max(env.config.loaders, cfg.loaders), kind, serverOptions: { keepAlive: false } },
  );
}

// 5. Connection rate --------------------------------------------------------------------------

export function runConnRate(env: Env, impl: Impl, cfg: ConnRateConfig): Promise<RunOutcome> {
  return withSession(env, impl, 'ws', async (s) => {
    const checks: RunOutcome['checks'][number][] = [];
    checks.push(connectCheck('warm-up connections opened', 10, await connectAll(s, { count: 10, users: 1, uid: 'warm', concurrency: 10 })));
    await sleep(200);
    const a = await markAll(s);
    const got = await connectAll(s, { count: cfg.clients, users: Math.max(1, cfg.clients / 10), concurrency: Number.POSITIVE_INFINITY });
    const b = await markAll(s);
    checks.push(connectCheck('all clients connected', cfg.clients, got));
    const w = windowBetween(a, b);
    return {
      values: {
        'connrate.rate': got.opened / (got.elapsedMs / 1000),
        'connrate.cpu': w.serverCpuUs / got.opened,
        'connrate.srvPct': cpuPct(w, w.serverCpuUs),
        'connrate.loadPct': cpuPct(w, w.loadCpuUs),
        'connrate.otherPct': cpuPct(w, w.otherCpuUs),
      },
      checks,
    };
  });
}
