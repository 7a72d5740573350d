// 9. Packers: wire bytes and encode+decode time of each `@sente-rx/packers` packer against the
// JSON default, for a typical batch (20 events of small maps) and a 64 KiB structured payload.
// Uses only the Packer interface `{ pack(value, kind?), unpack(data), binary }`. The packers
// package is optional: when it cannot be resolved the scenario says so and measures nothing.
// Runs in the orchestrator's process (no sockets): bounded by a time and an iteration count.

import { isDeepStrictEqual } from 'node:util';
import { jsonPacker } from '@sente-rx/core';
import type { PackersConfig } from './config.js';
import type { Check } from './scenarios.js';

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

export interface PackersResult {
  readonly rows: readonly PackerRow[];
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

export async function runPackers(cfg: PackersConfig, specifier = PACKERS_MODULE): Promise<PackersResult> {
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
  return { rows, checks };
}
