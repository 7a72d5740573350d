// The orchestrator: scenarios × runs × implementations (implementations interleaved within each
// run, so drift during the run hits all three alike), collecting figures and sanity checks. A
// failing run is recorded and the rest go on, so one broken implementation still leaves a table.

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleSize, wsClientBundleSize } from './bundle-size.js';
import type { BenchConfig } from './config.js';
import type { MetricKey, Scenario } from './metrics.js';
import { runPackers, type PackersResult } from './packers.js';
import { detectPinning, waitForQuiet } from './procs.js';
import { runConnRate, runIdle, runLatency, runPresence, runPush, runReqRep, type Check, type Env, type PresenceOutcome, type RunOutcome } from './scenarios.js';
import { IMPLS, isLibImpl, SENTE_FLUSH, SENTE_WIRE, WS_AA, type Impl } from './types.js';

export interface BenchOptions {
  /** Where the bundled child scripts are (`dist`, with `impl/*-server.js` and `impl/*-loader.js`). */
  readonly distDir: string;
  /** Where bare imports resolve from for the bundle-size scenario (the bench package). */
  readonly resolveDir: string;
  /** Extra esbuild conditions for the bundle-size scenario (the harness test bundles from sources). */
  readonly bundleConditions?: readonly string[];
  readonly impls?: readonly Impl[];
  readonly scenarios?: readonly Scenario[];
  readonly log?: (line: string) => void;
}

export interface RunError {
  readonly scenario: Scenario;
  readonly impl: Impl;
  readonly run: number;
  readonly message: string;
}

export type Values = Partial<Record<MetricKey, Partial<Record<Impl, number[]>>>>;

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly versions: Record<string, string>;
  /** 1-minute load average at the start and the end: other work on the machine shows up here. */
  readonly loadAvg: readonly [start: number, end: number];
}

export interface Results {
  readonly config: BenchConfig;
  readonly pinning: string;
  readonly machine: Machine;
  readonly startedAt: string;
  readonly seconds: number;
  readonly values: Values;
  readonly checks: readonly Check[];
  readonly errors: readonly RunError[];
  /** Observations the table cannot show (e.g. what a bundle is made of). */
  readonly notes: readonly string[];
  /** The packers scenario (absent from results saved before it existed). */
  readonly packers?: PackersResult;
  /** Server CPU per connect of every presence batch, per implementation and run. */
  readonly presenceBatches?: Partial<Record<Impl, { users: number; cpuPerConnectUs: number }[][]>>;
}

function packageVersion(from: string, name: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    if (path.dirname(dir) === dir) return '?';
  }
}

export function describeMachine(resolveDir: string, loadAtStart: number): Machine {
  return {
    loadAvg: [loadAtStart, os.loadavg()[0] ?? 0],
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    versions: Object.fromEntries(['ws', 'socket.io', 'socket.io-client', '@sente-rx/server', '@sente-rx/client', 'rxjs', 'esbuild'].map((n) => [n, packageVersion(resolveDir, n)])),
  };
}

/** Bounds the whole run's repeats, whatever the machine does. */
const MAX_REPEATS = 12;

export const SCENARIO_ORDER: readonly Scenario[] = ['idle', 'reqrep', 'fanout', 'longpoll', 'connrate', 'latency', 'presence', 'bundle', 'packers'];

/** Whether a scenario measures an implementation at all (the rest are absent by design). */
export function measures(scenario: Scenario, impl: Impl): boolean {
  if (scenario === 'packers') return false; // not per implementation
  if (impl === SENTE_FLUSH || impl === WS_AA) return scenario === 'fanout' || scenario === 'latency';
  if (scenario === 'longpoll' && impl === 'ws') return false; // raw ws has no long-polling
  // The server holds the same state, and the bundle is the same; presence loads sente-rx with wire sockets anyway.
  if (impl === SENTE_WIRE) return scenario !== 'idle' && scenario !== 'bundle' && scenario !== 'presence';
  return true;
}

export async function runBench(config: BenchConfig, options: BenchOptions): Promise<Results> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const pinning = detectPinning();
  const env: Env = { distDir: options.distDir, pinning, config };
  const defaults: Impl[] = [...IMPLS];
  if (config.senteWire) defaults.push(SENTE_WIRE);
  if (config.variants) defaults.push(SENTE_FLUSH, WS_AA);
  const impls: readonly Impl[] = options.impls ?? defaults;
  const scenarios = options.scenarios ?? SCENARIO_ORDER;
  const values: Values = {};
  const checks: Check[] = [];
  const errors: RunError[] = [];
  const notes: string[] = [];
  const presenceBatches: NonNullable<Results['presenceBatches']> = {};
  let packers: PackersResult | undefined;
  let repeated = 0;

  const record = (scenario: Scenario, impl: Impl, run: number, outcome: RunOutcome): void => {
    for (const [key, v] of Object.entries(outcome.values) as [MetricKey, number][]) {
      ((values[key] ??= {})[impl] ??= []).push(v);
    }
    for (const c of outcome.checks) checks.push({ ...c, scenario, impl, run });
  };

  const { idle, reqrep, fanout, longpoll, connrate, latency, presence } = config;
  const runners: Record<Exclude<Scenario, 'bundle' | 'packers'>, ((impl: Impl) => Promise<RunOutcome>) | null> = {
    idle: idle ? (impl) => runIdle(env, impl, idle) : null,
    reqrep: reqrep ? (impl) => runReqRep(env, impl, reqrep) : null,
    fanout: fanout ? (impl) => runPush(env, impl, fanout, 'ws') : null,
    longpoll: longpoll ? (impl) => runPush(env, impl, longpoll, 'polling') : null,
    connrate: connrate ? (impl) => runConnRate(env, impl, connrate) : null,
    latency: latency ? (impl) => runLatency(env, impl, latency) : null,
    presence: presence
      ? async (impl) => {
          const outcome: PresenceOutcome = await runPresence(env, impl, presence);
          (presenceBatches[impl] ??= []).push([...outcome.batches]);
          if (outcome.cappedTo !== undefined && !notes.some((n) => n.startsWith('Presence:'))) {
            notes.push(`Presence: the top level was measured at ${outcome.cappedTo.toLocaleString('en-US')} users, not ${presence.levels[2].toLocaleString('en-US')}: the server process's open-file limit (\`ulimit -Hn\`) leaves no room for more sockets.`);
          }
          return outcome;
        }
      : null,
  };

  for (const scenario of scenarios) {
    if (scenario === 'packers') {
      if (!config.packers) continue;
      try {
        packers = await runPackers(config.packers, undefined, { distDir: env.distDir, pinning: env.pinning, resolveDir: options.resolveDir, ...(options.bundleConditions ? { bundleConditions: options.bundleConditions } : {}) });
        for (const c of packers.checks) checks.push({ ...c, scenario, impl: 'sente-rx', run: 1 });
        log(packers.skipped ? `packers    skipped: ${packers.skipped}` : `packers    ${packers.rows.length} measurements (${[...new Set(packers.rows.map((r) => r.packer))].join(', ')}), ${packers.server?.length ?? 0} server CPU runs, ${packers.bundles?.length ?? 0} bundles`);
      } catch (e) {
        errors.push({ scenario, impl: 'sente-rx', run: 1, message: e instanceof Error ? e.message : String(e) });
        log(`packers    FAILED: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
      continue;
    }
    if (scenario === 'bundle') {
      if (!config.bundle) continue;
      // Deterministic: one build per implementation and condition set.
      for (const impl of impls) {
        if (!measures('bundle', impl) || !isLibImpl(impl)) continue;
        try {
          const extra = options.bundleConditions ?? [];
          const plain = await bundleSize(impl, options.resolveDir, extra);
          const es2015 = await bundleSize(impl, options.resolveDir, [...extra, 'es2015']);
          const parts = impl === 'sente-rx' ? { 'bundle.partClient': plain.parts.client, 'bundle.partCore': plain.parts.core, 'bundle.partRxjs': plain.parts.rxjs, 'bundle.partOther': plain.parts.other } : {};
          // sente-rx also as the WebSocket-only entry, `@sente-rx/client/ws` (issue 10's target is on it).
          const ws = impl === 'sente-rx' ? await wsClientBundleSize(options.resolveDir, extra) : undefined;
          const wsEs2015 = impl === 'sente-rx' ? await wsClientBundleSize(options.resolveDir, [...extra, 'es2015']) : undefined;
          const wsValues =
            ws === undefined || wsEs2015 === undefined
              ? {}
              : {
                  'bundle.wsGz': ws.gzipBytes,
                  'bundle.wsMin': ws.minBytes,
                  'bundle.wsGzEs2015': wsEs2015.gzipBytes,
                  'bundle.wsMinEs2015': wsEs2015.minBytes,
                  'bundle.wsPartClient': ws.parts.client,
                  'bundle.wsPartCore': ws.parts.core,
                  'bundle.wsPartRxjs': ws.parts.rxjs,
                  'bundle.wsPartOther': ws.parts.other,
                };
          const forbidden = [...plain.forbidden, ...(ws?.forbidden ?? [])];
          record('bundle', impl, 1, {
            values: { 'bundle.gz': plain.gzipBytes, 'bundle.min': plain.minBytes, 'bundle.gzEs2015': es2015.gzipBytes, 'bundle.minEs2015': es2015.minBytes, ...parts, ...wsValues },
            checks: [{ name: 'no Node built-ins or ws in the browser bundle', ok: forbidden.length === 0, detail: forbidden.join(', ') || 'none' }],
          });
          if (impl === 'sente-rx') {
            const share = (b: { rxjsMinBytes: number; minBytes: number }): string => `${b.rxjsMinBytes.toLocaleString('en-US')} of ${b.minBytes.toLocaleString('en-US')} minified bytes (${Math.round((b.rxjsMinBytes / b.minBytes) * 100)} %)`;
            notes.push(`The sente-rx client bundle's RxJS share: ${share(plain)} with default conditions, ${share(es2015)} with \`--conditions=es2015\`.`);
          }
          log(`bundle     ${impl.padEnd(13)} ${plain.gzipBytes} B gz (${es2015.gzipBytes} B with es2015)${ws === undefined ? '' : `; /ws entry ${ws.gzipBytes} B gz (${wsEs2015?.gzipBytes ?? '?'} B with es2015)`}`);
        } catch (e) {
          errors.push({ scenario, impl, run: 1, message: e instanceof Error ? e.message : String(e) });
          log(`bundle     ${impl.padEnd(13)} FAILED: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
        }
      }
      continue;
    }
    const runner = runners[scenario];
    if (!runner) continue;
    for (let run = 1; run <= config.runs; run++) {
      // Rotate the order each run so no implementation always goes first.
      const order = impls.map((_, i) => impls[(i + run - 1) % impls.length]!);
      for (const impl of order) {
        if (!measures(scenario, impl)) continue;
        const label = `${scenario.padEnd(10)} ${impl.padEnd(13)} run ${run}/${config.runs}`;
        for (let attempt = 0; ; attempt++) {
          if (config.quietWaitMs > 0) {
            const w0 = Date.now();
            const other = await waitForQuiet(config.disturbedPct, config.quietWaitMs);
            if (Date.now() - w0 > 1_000) log(`${label} waited ${((Date.now() - w0) / 1000).toFixed(0)} s for other processes to calm down (now ${Math.round(other)} % of a core)`);
          }
          const t0 = Date.now();
          try {
            const outcome = await runner(impl);
            // Other processes competing for the two cores make a run meaningless: repeat it.
            const other = Math.max(0, ...Object.entries(outcome.values).filter(([k]) => k.endsWith('.otherPct')).map(([, v]) => v));
            if (other > config.disturbedPct && attempt < config.retries && repeated < MAX_REPEATS) {
              repeated += 1;
              log(`${label} disturbed (other processes used ${Math.round(other)} % of a core), repeating`);
              continue;
            }
            record(scenario, impl, run, outcome);
            const bad = outcome.checks.filter((c) => !c.ok);
            log(`${label} ${((Date.now() - t0) / 1000).toFixed(1)} s${bad.length ? `  CHECK FAILED: ${bad.map((c) => `${c.name} (${c.detail})`).join('; ')}` : ''}`);
          } catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            errors.push({ scenario, impl, run, message });
            log(`${label} FAILED: ${message.split('\n')[0]}`);
          }
          break;
        }
      }
    }
  }

  if (repeated > 0) notes.push(`${repeated} run(s) were repeated because other processes used more than ${config.disturbedPct} % of a core during the measured window (at most ${config.retries} repeats per run, ${MAX_REPEATS} in all).`);
  return {
    config,
    pinning: pinning.description,
    machine: describeMachine(options.resolveDir, loadAtStart),
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    values,
    checks,
    errors,
    notes,
    ...(packers ? { packers } : {}),
    ...(Object.keys(presenceBatches).length > 0 ? { presenceBatches } : {}),
  };
}
