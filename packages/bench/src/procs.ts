// The orchestrator side of the child processes: spawn pinned to a core (taskset) with a raised
// file-descriptor limit when needed, request/response over IPC with a deadline on every call, and
// a kill that only ever targets the processes spawned here, by pid.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { ChildEvent, ChildReply, Command } from './types.js';

/** Cores for the server and the load generators, when the machine can pin them apart. */
export interface Pinning {
  readonly server: number | undefined;
  readonly load: number | undefined;
  readonly description: string;
}

export function detectPinning(): Pinning {
  if (process.env['SENTE_RX_BENCH_NO_PIN']) return { server: undefined, load: undefined, description: 'not pinned (SENTE_RX_BENCH_NO_PIN)' };
  const cores = os.availableParallelism();
  const taskset = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0;
  if (taskset && cores >= 2) return { server: 0, load: 1, description: 'server on core 0, load generators on core 1 (taskset)' };
  return { server: undefined, load: undefined, description: taskset ? 'not pinned (one core)' : 'not pinned (no taskset)' };
}

/** Busy CPU time of the whole machine in µs (all cores, from /proc/stat), or NaN off Linux. */
export function machineBusyUs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return (busy * 1e6) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * Waits (at most `maxWaitMs`) until the machine's busy CPU over half a second, less this
 * process's own, is under `pct` % of a core. Resolves to the last share seen (NaN off Linux).
 */
export async function waitForQuiet(pct: number, maxWaitMs: number): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const own0 = process.cpuUsage();
    const busy0 = machineBusyUs();
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const own1 = process.cpuUsage(own0);
    const us = Number(process.hrtime.bigint() - t0) / 1e3;
    const other = ((machineBusyUs() - busy0 - own1.user - own1.system) / us) * 100;
    if (!(other >= pct) || Date.now() >= deadline) return other;
  }
}

/** The soft limit on open files for children; 10,000 sockets need more than the usual 1,024. */
function fdLimit(): number {
  const r = spawnSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number.parseInt(r.stdout ?? '', 10);
  return Number.isFinite(n) ? n : r.stdout?.trim() === 'unlimited' ? Number.POSITIVE_INFINITY : 1024;
}

let cachedFdLimit: number | undefined;
const NEEDED_FDS = 16_384;
/** The shell prelude that raises a child's soft limit (up to the hard one, which only root may pass). */
const RAISE_FDS = `ulimit -n ${NEEDED_FDS * 4} 2>/dev/null || ulimit -n "$(ulimit -Hn)"`;

let cachedChildFdLimit: number | undefined;
/** The open-file limit a child process runs with (after the raise `Child` applies when needed). */
export function childFdLimit(): number {
  cachedFdLimit ??= fdLimit();
  if (cachedFdLimit >= NEEDED_FDS) return cachedFdLimit;
  if (cachedChildFdLimit === undefined) {
    const r = spawnSync('bash', ['-c', `${RAISE_FDS}; ulimit -n`], { encoding: 'utf8' });
    const out = (r.stdout ?? '').trim();
    const n = Number.parseInt(out, 10);
    cachedChildFdLimit = out === 'unlimited' ? Number.POSITIVE_INFINITY : Number.isFinite(n) ? n : cachedFdLimit;
  }
  return cachedChildFdLimit;
}

export interface SpawnOptions {
  readonly core: number | undefined;
  readonly exposeGc?: boolean;
  /** Extra `node` flags (V8's included), before the script. */
  readonly nodeFlags?: readonly string[];
}

/**
 * SENTE_BENCH_LOADER_NODE_FLAGS: `node` flags for every load-generator process, space-separated,
 * e.g. `--no-allocation-site-pretenuring` (the paced fan-out note in the bench README).
 */
export function loaderNodeFlags(): readonly string[] {
  return (process.env['SENTE_BENCH_LOADER_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
}

type Listener = (ev: ChildEvent) => void;

export class Child {
  readonly #proc: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly #listeners = new Set<Listener>();
  #nextId = 1;
  #output = '';
  #exited: string | undefined;
  readonly ready: Promise<ChildEvent & { type: 'ready' }>;

  constructor(
    readonly name: string,
    script: string,
    config: unknown,
    options: SpawnOptions,
  ) {
    const nodeArgs = [...(options.exposeGc ? ['--expose-gc'] : []), ...(options.nodeFlags ?? []), script, JSON.stringify(config)];
    let cmd = process.execPath;
    let args = nodeArgs;
    if (options.core !== undefined) {
      cmd = 'taskset';
      args = ['-c', String(options.core), process.execPath, ...nodeArgs];
    }
    cachedFdLimit ??= fdLimit();
    if (cachedFdLimit < NEEDED_FDS) {
      // Raise the soft limit (up to the hard one) in a shell that then becomes the child.
      args = ['-c', `${RAISE_FDS}; exec "$0" "$@"`, cmd, ...args];
      cmd = 'bash';
    }
    this.#proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-4_000);
    };
    this.#proc.stdout?.on('data', keep);
    this.#proc.stderr?.on('data', keep);
    this.#proc.on('message', (raw) => this.#onMessage(raw as ChildReply | ChildEvent));
    this.#proc.on('error', (err) => this.#fail(`spawn error: ${err.message}`));
    this.#proc.on('exit', (code, signal) => this.#fail(`exited (code ${code}, signal ${signal})`));
    this.ready = this.waitFor((ev): ev is ChildEvent & { type: 'ready' } => ev.type === 'ready', 20_000);
    this.ready.catch(() => undefined); // whoever awaits it sees the error; an unawaited one must not crash the run
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /** Sends a command and resolves with the child's answer; rejects after `timeoutMs`. */
  request<T>(cmd: string, args?: unknown, timeoutMs = 30_000): Promise<T> {
    if (this.#exited !== undefined) return Promise.reject(this.#error(`cannot send ${cmd}: ${this.#exited}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(this.#error(`${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#proc.send({ id, cmd, args } satisfies Command);
    });
  }

  /** A command without an answer (the push credit). */
  notify(cmd: string, args?: unknown): void {
    if (this.#exited === undefined && this.#proc.connected) this.#proc.send({ id: -1, cmd, args } satisfies Command);
  }

  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  waitFor<T extends ChildEvent>(match: (ev: ChildEvent) => ev is T, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(this.#error(`no matching event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on((ev) => {
        if (match(ev)) {
          clearTimeout(timer);
          off();
          resolve(ev);
        }
      });
      const onExit = (): void => {
        clearTimeout(timer);
        off();
        reject(this.#error(this.#exited ?? 'exited'));
      };
      this.#proc.once('exit', onExit);
    });
  }

  /** Asks the child to close, then kills it (SIGKILL, by pid) if it is still there. */
  async stop(): Promise<void> {
    if (this.#exited !== undefined) return;
    const exited = new Promise<void>((resolve) => this.#proc.once('exit', () => resolve()));
    await this.request('close', undefined, 5_000).catch(() => undefined);
    const timer = setTimeout(() => this.kill(), 2_000);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.#exited === undefined && this.#proc.pid !== undefined) this.#proc.kill('SIGKILL');
  }

  #onMessage(msg: ChildReply | ChildEvent): void {
    if ('type' in msg) {
      for (const l of this.#listeners) l(msg);
      return;
    }
    const p = this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(this.#error(msg.error));
  }

  #fail(why: string): void {
    this.#exited ??= why;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(this.#error(why));
    }
  }

  #error(message: string): Error {
    const out = this.#output.trim();
    return new Error(`${this.name}: ${message}${out ? `\n--- output of ${this.name} ---\n${out}` : ''}`);
  }
}
