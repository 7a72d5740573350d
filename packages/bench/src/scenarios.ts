// One run of one scenario for one implementation: spawn the server (core 0) and the load
// generators (core 1), drive them through the phases, sample CPU and counters at the window's
// edges, check the counts add up, and stop every process whatever happens.

import path from 'node:path';
import type { BenchConfig, IdleConfig, PushConfig, ReqRepConfig, ConnRateConfig } from './config.js';
import { Histogram } from './histogram.js';
import type { MetricKey } from './metrics.js';
import { Child, machineBusyUs, type Pinning } from './procs.js';
import { SENTE_WIRE, type ClientKind, type ConnectResult, type Impl, type LoaderMark, type MemorySample, type PushStartArgs, type PushStopResult, type ServerMark, type Transport } from './types.js';

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

const SCRIPT: Record<Impl, string> = { 'sente-rx': 'sente', 'sente-rx/wire': 'sente', ws: 'ws', 'socket.io': 'sio' };

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

async function withSession<T>(env: Env, impl: Impl, transport: Transport, fn: (s: Session) => Promise<T>): Promise<T> {
  const script = (role: string): string => path.join(env.distDir, 'impl', `${SCRIPT[impl]}-${role}.js`);
  const kind: ClientKind = impl === SENTE_WIRE ? 'wire' : 'lib';
  const children: Child[] = [];
  try {
    // All processes start at once; the load generators learn the port with their first command.
    const server = new Child(`${impl} server`, script('server'), {}, { core: env.pinning.server, exposeGc: true });
    children.push(server);
    const loaders = Array.from({ length: env.config.loaders }, (_, i) => {
      const child = new Child(`${impl} loader ${i}`, script('loader'), { transport, kind }, { core: env.pinning.load });
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
}

async function connectAll({ loaders, port }: Session, args: ConnectAllArgs): Promise<ConnectResult> {
  let offset = 0;
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
        'reqrep.srvPct': cpuPct(w, w.serverCpuUs),
        'reqrep.loadPct': cpuPct(w, w.loadCpuUs),
        'reqrep.otherPct': cpuPct(w, w.otherCpuUs),
      },
      checks,
    };
  });
}

// 3 and 4. Push fan-out, over WebSocket or long-polling ----------------------------------------

export function runPush(env: Env, impl: Impl, cfg: PushConfig, transport: Transport): Promise<RunOutcome> {
  const scenario = transport === 'ws' ? 'fanout' : 'longpoll';
  return withSession(env, impl, transport, async (s) => {
    const checks: RunOutcome['checks'][number][] = [];
    const clients = cfg.users * cfg.clientsPerUser;
    checks.push(connectCheck('clients connected', clients, await connectAll(s, { count: clients, users: cfg.users, concurrency: 50 })));

    // The closed loop: each load generator reports its delivered total; the sum, less what
    // earlier phases sent, is the server's credit.
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
    await Promise.all(s.loaders.map((l) => l.request('push-listen', { on: true })));

    const phase = async (args: Omit<PushStartArgs, 'maxMs'>, warmupMs: number, durationMs: number): Promise<Window> => {
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
      checks.push({ name: `${args.ratePerSec ? 'paced' : 'saturation'}: delivered = sent`, ok: got === expected && stopped.deliveries > 0, detail: `sent ${expected}, delivered ${got}` });
      return windowBetween(a, b);
    };

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
