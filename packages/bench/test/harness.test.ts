// Proves the benchmark harness works end to end on a tiny configuration — every scenario, all
// three implementations, real processes and sockets — and that its numbers are sane. It never
// judges speed: CI machines vary too much for that.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBench, type Results } from '../src/bench.js';
import { SMOKE } from '../src/config.js';
import { Histogram } from '../src/histogram.js';
import { METRICS } from '../src/metrics.js';
import { consoleTable, ratio, resultsMarkdown, stat, targetVerdicts } from '../src/report.js';
import { ratiosSvg } from '../src/svg.js';
import { IMPLS, SENTE_WIRE, type Impl } from '../src/types.js';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const distDir = path.join(packageDir, 'test-output', 'dist');

describe('histogram and report arithmetic', () => {
  it('puts quantiles within 1 % of the exact value', () => {
    const h = new Histogram();
    for (let i = 1; i <= 10_000; i++) h.record(i / 100); // 0.01 .. 100 ms
    expect(h.quantile(0.5)).toBeGreaterThan(50 * 0.99);
    expect(h.quantile(0.5)).toBeLessThan(50 * 1.01);
    expect(h.quantile(0.99)).toBeGreaterThan(99 * 0.99);
    expect(h.quantile(0.99)).toBeLessThan(99 * 1.01);
    const merged = new Histogram();
    merged.merge(h.take());
    expect(merged.total).toBe(10_000);
    expect(h.total).toBe(0);
  });

  it('takes medians, ratios and target verdicts the right way round', () => {
    expect(stat([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(stat([4, 1, 2, 3])?.median).toBe(2.5);
    const values = { 'reqrep.rate': { 'sente-rx': [90], ws: [100], 'socket.io': [50] }, 'idle.heap': { 'sente-rx': [4000], ws: [3000] } };
    expect(ratio(values, 'reqrep.rate', 'ws')).toBeCloseTo(0.9);
    const verdicts = targetVerdicts(values);
    const find = (key: string, peer: string) => verdicts.find((v) => v.def.key === key && v.target.peer === peer)?.met;
    expect(find('reqrep.rate', 'ws')).toBe(true); // 0.9 >= 0.8
    expect(find('reqrep.rate', 'socket.io')).toBe(true); // 1.8 >= 1.5
    expect(find('idle.heap', 'ws')).toBe(false); // 1.33 > 1.2
    expect(find('fanout.rate', 'ws')).toBeUndefined();
  });
});

describe('benchmark harness (smoke configuration)', () => {
  let results: Results;

  beforeAll(async () => {
    // The child scripts, with the sente-rx packages bundled from their sources (the
    // "sente-rx-source" condition), so the test needs no prior build of the other packages.
    await build({
      entryPoints: [path.join(packageDir, 'src/impl/*.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outdir: path.join(distDir, 'impl'),
      conditions: ['sente-rx-source'],
      external: ['ws', 'socket.io', 'socket.io-client', 'rxjs'],
      logLevel: 'error',
    });
    results = await runBench(SMOKE, { distDir, resolveDir: packageDir, bundleConditions: ['sente-rx-source'], ...(process.env['BENCH_LOG'] ? { log: (l: string) => console.log(l) } : {}) });
  }, 90_000);

  it('runs every scenario for every implementation without a failed run', () => {
    expect(results.errors.map((e) => `${e.scenario}/${e.impl}: ${e.message}`)).toEqual([]);
  });

  it('passes every sanity check (connections opened, replies sent = received, pushes sent = delivered)', () => {
    expect(results.checks.filter((c) => !c.ok).map((c) => `${c.scenario}/${c.impl}/${c.name}: ${c.detail}`)).toEqual([]);
    for (const impl of [...IMPLS, SENTE_WIRE]) {
      expect(results.checks.some((c) => c.impl === impl && c.name === 'replies sent = replies received' && c.ok)).toBe(true);
      expect(results.checks.some((c) => c.impl === impl && c.scenario === 'fanout' && c.name === 'saturation: delivered = sent' && c.ok)).toBe(true);
    }
  });

  it('produces a positive, finite value for every figure of every implementation', () => {
    const bad: string[] = [];
    for (const def of METRICS) {
      for (const impl of [...IMPLS, SENTE_WIRE] as Impl[]) {
        const absent = (def.scenario === 'longpoll' && impl === 'ws') || (impl === SENTE_WIRE && (def.scenario === 'idle' || def.scenario === 'bundle'));
        if (absent) {
          expect(results.values[def.key]?.[impl]).toBeUndefined();
          continue;
        }
        const xs = results.values[def.key]?.[impl];
        // Other processes' CPU may well be 0, and an RSS delta of a few hundred connections can
        // vanish into pages the process already had; every other figure must be positive.
        const loose = def.key.endsWith('.otherPct') || def.key === 'idle.rss';
        const sane = loose ? (x: number) => Number.isFinite(x) && x >= (def.key === 'idle.rss' ? -Infinity : 0) : (x: number) => Number.isFinite(x) && x > 0;
        if (!xs || xs.length !== 1 || !xs.every(sane)) bad.push(`${def.key}/${impl}: ${JSON.stringify(xs)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('writes a report and a chart that mention every implementation', () => {
    const md = resultsMarkdown(results);
    const svg = ratiosSvg(results);
    expect(md).toContain('| replies/s');
    expect(md).toMatch(/All \d+ checks passed/);
    expect(consoleTable(results)).toContain('Socket.IO');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('vs raw ws');
    expect(md).toContain('### sente-rx with wire-protocol load generators');
    expect(svg.match(/<rect [^>]*fill="#4c78a8"><title>/g)?.length ?? 0).toBeGreaterThan(5);
  });
});
