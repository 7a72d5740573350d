// 9. Packers: wire bytes and encode+decode time of each `@sente-rx/packers` packer against the
// JSON default, for a typical batch (20 events of small maps) and a 64 KiB structured payload.
// Uses only the Packer interface `{ pack(value, kind?), unpack(data), binary }`. The packers
// package is optional: when it cannot be resolved the scenario says so and measures nothing.
// Runs in the orchestrator's process (no sockets): bounded by a time and an iteration count.

import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { jsonPacker } from '@sente-rx/core';
import WebSocket from 'ws';
import { bundleSize, clientWithPackerBundleSize } from './bundle-size.js';
import type { PackersConfig } from './config.js';
import { Child, type Pinning } from './procs.js';
import type { Check } from './scenarios.js';
import type { ServerMark } from './types.js';

/** The shape this scenario relies on; anything else a module exports is ignored. */
interface AnyPacker {
  readonly binary: boolean;
  pack(value: unknown, kind?: unknown): string | Uint8Array;
  unpack(data: string | Uint8Array): unknown;
}

export interface PackerRow {
  readonly packer: string;
  readonly payload: 'batch' | '64k';
  readonly binary: boolean;
  /** Whether unpack(pack(v)) is deep-equal to v (EDN or Transit may map keys to other types). */
  readonly exact: boolean;
  readonly bytes: number;
  /** One pack plus one unpack, median over the rounds. */
  readonly encodeDecodeUs: number;
}

/** Server CPU per echo reply over one WebSocket, with the server and the client on this packer. */
export interface PackerServerRow {
  readonly packer: string;
  readonly replies: number;
  readonly cpuPerReplyUs: number;
}

/** The browser client bundle (`createChannelSocketClient` plus the packer's subpath export). */
export interface PackerBundleRow {
  readonly packer: string;
  readonly minBytes: number;
  readonly gzipBytes: number;
}

/** Where the server child and the bundler run from (absent: only the in-process figures). */
export interface PackersEnv {
  readonly distDir: string;
  readonly pinning: Pinning;
  readonly resolveDir: string;
  readonly bundleConditions?: readonly string[];
}

export interface PackersResult {
  readonly rows: readonly PackerRow[];
  readonly server?: readonly PackerServerRow[];
  readonly bundles?: readonly PackerBundleRow[];
  /** Why nothing was measured (the packers package is not there). */
  readonly skipped?: string;
  readonly checks: readonly Omit<Check, 'scenario' | 'impl' | 'run'>[];
}

export const PACKERS_MODULE = '@sente-rx/packers';

function isPacker(v: unknown): v is AnyPacker {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return typeof p['pack'] === 'function' && typeof p['unpack'] === 'function' && typeof p['binary'] === 'boolean';
}

/** A typical batch: 20 events, each `[id, small map]`, as a server sends them in one frame. */
export function typicalBatch(): unknown[] {
  return Array.from({ length: 20 }, (_, i) => [`chat/message`, { room: `r${i % 3}`, from: `user-${i}`, text: `hello number ${i}`, at: 1_700_000_000_000 + i, read: i % 2 === 0 }]);
}

/** One event whose data is about 64 KiB of records once JSON-encoded. */
export function payload64k(): unknown[] {
  const rows: unknown[] = [];
  let size = 0;
  for (let i = 0; size < 64 * 1024; i++) {
    const row = { id: i, name: `item ${i}`, price: Math.round(i * 1.37 * 100) / 100, tags: ['a', 'bb', `t${i % 7}`], ok: i % 3 === 0 };
    rows.push(row);
    size += JSON.stringify(row).length + 1;
  }
  return ['data/rows', { rows }];
}

const byteLength = (data: string | Uint8Array): number => (typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength);

function measure(p: AnyPacker, value: unknown, cfg: PackersConfig): number {
  const once = (): void => {
    p.unpack(p.pack(value));
  };
  for (let i = 0; i < 20; i++) once(); // warm-up
  const rounds: number[] = [];
  const deadline = performance.now() + cfg.minMs;
  let done = 0;
  // Rounds of at least ~1 ms each; the median round is the figure.
  while (done < cfg.maxIterations && (performance.now() < deadline || rounds.length < 3)) {
    const t0 = performance.now();
    let n = 0;
    while (n < cfg.maxIterations - done && (n < 1 || performance.now() - t0 < 1)) {
      once();
      n += 1;
    }
    rounds.push(((performance.now() - t0) * 1000) / n);
    done += n;
    if (done >= cfg.maxIterations) break;
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)]!;
}

/** Loads the packers package by name, or says why it could not. */
async function loadPackers(specifier: string): Promise<{ packers: [string, AnyPacker][] } | { reason: string }> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (e) {
    return { reason: `${specifier} cannot be resolved (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` };
  }
  const packers = Object.entries(mod).filter((entry): entry is [string, AnyPacker] => isPacker(entry[1]));
  if (packers.length === 0) return { reason: `${specifier} exports no value with pack, unpack and binary` };
  return { packers };
}

/** The subpath export of each packer of @sente-rx/packers (the bundle an app would import). */
const SUBPATHS: Readonly<Record<string, string>> = { ednPacker: 'edn', transitPacker: 'transit', msgpackPacker: 'msgpack' };

/** One echo event, as the reqrep scenario sends it: a small map. */
const ECHO_DATA = { room: 'r1', from: 'user-1', text: 'hello number 1', at: 1_700_000_000_001, read: false };

/**
 * Server CPU per reply: a sente-rx server child on `packerName` (JSON when undefined), one
 * WebSocket from this process keeping 16 echo requests in flight; the server's CPU between two
 * marks, after a warm-up, divided by the replies it sent. Bounded by `replies` and 60 s.
 */
async function serverCpuPerReply(env: PackersEnv, p: AnyPacker, packerName: string | undefined, replies: number): Promise<PackerServerRow & { ok: boolean }> {
  const server = new Child(`sente-rx server (${packerName ?? 'json'})`, path.join(env.distDir, 'impl', 'sente-server.js'), packerName ? { options: { packer: packerName } } : {}, { core: env.pinning.server });
  let ws: WebSocket | undefined;
  try {
    const { port } = await server.ready;
    const socket = new WebSocket(`ws://127.0.0.1:${port}/chsk?client-id=bench-packers&uid=packers`);
    ws = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('error', () => undefined);
    const deadline = Date.now() + 60_000;
    let seq = 0;
    let settle: (() => void) | undefined;
    let target = 0;
    let received = 0;
    const send = (): void => {
      seq += 1;
      socket.send(p.pack([['bench/echo', ECHO_DATA], `c${seq}`], 'client-event'));
    };
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      const v = p.unpack(isBinary ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data.toString('utf8'));
      if (!Array.isArray(v) || typeof v[1] !== 'string') return; // the handshake, pings
      received += 1;
      if (received >= target || Date.now() > deadline) settle?.();
      else if (seq < target) send();
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('close', () => reject(new Error('socket closed before open')));
    });
    const run = (n: number): Promise<void> =>
      new Promise<void>((resolve) => {
        settle = resolve;
        target = received + n;
        for (let i = 0; i < Math.min(16, n); i++) send();
      });
    await run(Math.max(50, Math.floor(replies / 10))); // warm-up
    const m0 = await server.request<ServerMark>('mark');
    await run(replies);
    const m1 = await server.request<ServerMark>('mark');
    const n = m1.repliesSent - m0.repliesSent;
    return { packer: packerName ?? 'json (default)', replies: n, cpuPerReplyUs: (m1.cpuUs - m0.cpuUs) / Math.max(1, n), ok: n > 0 };
  } finally {
    ws?.terminate();
    await server.stop();
  }
}

export async function runPackers(cfg: PackersConfig, specifier = PACKERS_MODULE, env?: PackersEnv): Promise<PackersResult> {
  const loaded = await loadPackers(specifier);
  if ('reason' in loaded) return { rows: [], skipped: loaded.reason, checks: [] };
  const all: [string, AnyPacker][] = [['json (default)', jsonPacker], ...loaded.packers.filter(([, p]) => p !== jsonPacker)];
  const payloads = { batch: typicalBatch(), '64k': payload64k() } as const;
  const rows: PackerRow[] = [];
  const checks: Omit<Check, 'scenario' | 'impl' | 'run'>[] = [];
  for (const [name, p] of all) {
    for (const [kind, value] of Object.entries(payloads) as [PackerRow['payload'], unknown][]) {
      let packed: string | Uint8Array;
      let exact: boolean;
      const check = `packer ${name} packs and unpacks the ${kind} payload`;
      try {
        packed = p.pack(value);
        exact = isDeepStrictEqual(p.unpack(packed), value);
        checks.push({ name: check, ok: true, detail: exact ? 'round trip equal' : 'round trip not deep-equal (see the packers table)' });
      } catch (e) {
        checks.push({ name: check, ok: false, detail: e instanceof Error ? e.message : String(e) });
        continue;
      }
      rows.push({ packer: name, payload: kind, binary: p.binary, exact, bytes: byteLength(packed), encodeDecodeUs: measure(p, value, cfg) });
    }
  }
  if (env === undefined) return { rows, checks };
  const server: PackerServerRow[] = [];
  const bundles: PackerBundleRow[] = [];
  for (const [name, p] of all) {
    const exportName = p === jsonPacker ? undefined : name;
    if (cfg.serverReplies !== undefined && cfg.serverReplies > 0) {
      const check = `server CPU per reply over WebSocket with ${name}`;
      try {
        const { ok, ...row } = await serverCpuPerReply(env, p, exportName, cfg.serverReplies);
        server.push(row);
        checks.push({ name: check, ok, detail: `${row.replies} replies` });
      } catch (e) {
        checks.push({ name: check, ok: false, detail: e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e) });
      }
    }
    const subpath = exportName === undefined ? undefined : SUBPATHS[exportName];
    const conditions = env.bundleConditions ?? [];
    const b =
      exportName === undefined
        ? await bundleSize('sente-rx', env.resolveDir, conditions)
        : subpath === undefined
          ? undefined
          : await clientWithPackerBundleSize(exportName, subpath, env.resolveDir, conditions);
    if (b !== undefined) bundles.push({ packer: name, minBytes: b.minBytes, gzipBytes: b.gzipBytes });
  }
  return { rows, server, bundles, checks };
}
