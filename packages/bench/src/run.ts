// `npm run bench [-- options]`: runs the benchmark and writes RESULTS.md and ratios.svg.
//
//   --quick              reduced sizes, one run (under a minute); writes to test-output/
//   --runs=N             runs per scenario (default 3 in the full configuration)
//   --only=a,b           scenarios: idle, reqrep, fanout, longpoll, connrate, latency, presence,
//                        bundle, packers
//   --impl=a,b           implementations: sente-rx, ws, socket.io, sente-rx/wire (sente-rx loaded by
//                        bare sockets speaking its wire protocol; on by default in the full run),
//                        sente-rx/flush (pushes with { flush: true }) and ws/aa (raw ws again, the
//                        A/A control): these two in fan-out and latency, on by default
//   --loaders=N          load-generator processes per scenario
//   --retries=N          repeats of a run disturbed by other processes (default 2 in the full run)
//   --out=DIR            where to write RESULTS.md and ratios.svg
//   --render=FILE        measure nothing: re-render a saved results JSON (every run saves one in
//                        test-output/last-results.json)
//   --cluster            also the cross-node push on Redis (dist/cluster-push.js, issue 12), as its
//                        own section of RESULTS.md; on by default in the full run
//   --recovery           also the recovery figures (dist/recovery.js, issue 13: in-memory and
//                        Redis), as their own section of RESULTS.md; on by default in the full run

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBench, SCENARIO_ORDER, type Results } from './bench.js';
import { FULL, QUICK, type BenchConfig } from './config.js';
import type { Scenario } from './metrics.js';
import { consoleTable, resultsMarkdown } from './report.js';
import { ratiosSvg } from './svg.js';
import { ALL_IMPLS, type Impl } from './types.js';
import { clusterPushTable, type ClusterPushResult } from './cluster-report.js';
import { recoveryTable, type RecoveryResult } from './recovery-report.js';

const distDir = path.dirname(fileURLToPath(import.meta.url));
const packageDir = path.dirname(distDir);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
    impl: { type: 'string' },
    retries: { type: 'string' },
    loaders: { type: 'string' },
    out: { type: 'string' },
    render: { type: 'string' },
    cluster: { type: 'boolean', default: false },
    recovery: { type: 'boolean', default: false },
  },
});

function list<T extends string>(raw: string | undefined, allowed: readonly T[], what: string): readonly T[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.split(',').map((s) => s.trim()) as T[];
  for (const i of items) if (!allowed.includes(i)) throw new Error(`unknown ${what} "${i}"; one of ${allowed.join(', ')}`);
  return items;
}

let config: BenchConfig = args.quick ? QUICK : FULL;
if (args.runs !== undefined) config = { ...config, runs: Math.max(1, Number.parseInt(args.runs, 10)) };
if (args.loaders !== undefined) config = { ...config, loaders: Math.max(1, Number.parseInt(args.loaders, 10)) };
if (args.retries !== undefined) config = { ...config, retries: Math.max(0, Number.parseInt(args.retries, 10)) };
const scenarios = list<Scenario>(args.only, SCENARIO_ORDER, 'scenario');
const impls = list<Impl>(args.impl, ALL_IMPLS, 'implementation');
const testOutput = path.join(packageDir, 'test-output');
let results: Results;
let complete = config.name === 'full' && !scenarios && !impls;
if (args.render !== undefined) {
  results = JSON.parse(readFileSync(args.render, 'utf8')) as Results;
  complete = false;
} else {
  console.log(`sente-rx bench: ${config.name} configuration, ${config.runs} run(s) per scenario`);
  results = await runBench(config, {
    distDir,
    resolveDir: packageDir,
    ...(impls ? { impls } : {}),
    ...(scenarios ? { scenarios } : {}),
    log: (line) => console.log(line),
  });
  mkdirSync(testOutput, { recursive: true });
  writeFileSync(path.join(testOutput, 'last-results.json'), `${JSON.stringify(results, null, 1)}\n`);
}
// The cross-node push runs in its own process (it forks server nodes and a redis-server).
let cluster: ClusterPushResult[] | undefined;
if (args.render === undefined && (args.cluster || complete)) {
  console.log('cross-node push (dist/cluster-push.js)…');
  const r = spawnSync(process.execPath, [path.join(distDir, 'cluster-push.js'), '--json', ...(config.name === 'full' ? [] : ['--quick'])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    cluster = JSON.parse(last) as ClusterPushResult[];
  } catch {
    console.log(`the cross-node push failed (status ${String(r.status)}): ${last.slice(0, 200)}`);
    process.exitCode = 1;
  }
}

// The recovery figures run in their own process too (--expose-gc, a redis-server of their own).
let recovery: RecoveryResult | undefined;
if (args.render === undefined && (args.recovery || complete)) {
  console.log('recovery (dist/recovery.js)…');
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(distDir, 'recovery.js'), '--json', ...(config.name === 'full' ? [] : ['--quick'])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    recovery = JSON.parse(last) as RecoveryResult;
  } catch {
    console.log(`the recovery figures failed (status ${String(r.status)}): ${last.slice(0, 200)}`);
    process.exitCode = 1;
  }
}

// Only a complete full run replaces the committed RESULTS.md and ratios.svg.
const outDir = args.out ?? (complete ? packageDir : testOutput);

console.log('');
console.log(consoleTable(results));
mkdirSync(outDir, { recursive: true });
const clusterSection =
  cluster === undefined
    ? ''
    : `\n## Cross-node push on Redis (issue 12)\n\nOne WebSocket client per user, users split evenly over the nodes, node 0 publishing everything in closed-loop windows; rate and latency are of the whole 2-core machine (load generator included; latency includes the 30 ms WebSocket send buffer); server CPU is summed over all nodes; the last column is each node's messages received from Redis ÷ messages published (interest routing). Per-message costs, not a scaling claim.\n\n${clusterPushTable(cluster)}\n`;
if (cluster !== undefined) console.log(`\n${clusterPushTable(cluster)}`);
const recoverySection =
  recovery === undefined
    ? ''
    : `\n## Recovery (issue 13)\n\nOne process, the server core driven through its adapter seam with counting fake WebSockets (no network, no client: the server's own work), \`sendBufMs\` 0, on the in-memory broker and on \`redisBroker\` (a private redis-server; every push is a Redis round trip there, so fewer pushes). Server CPU is this process's (server core and broker client); Redis CPU and memory are the redis-server's, from INFO; heap after \`gc()\`. The idle user log is \`recovery\`'s default bound (1,000 events, 2 min) filled with \`['app/msg', { text, i }]\`: in memory the heap with the log on minus off, in Redis \`MEMORY USAGE\` of the uid's stream and meta keys. Recovery time: a WebSocket open with a position until the replay batch is on the socket.\n\n${recoveryTable(recovery)}\n`;
if (recovery !== undefined) console.log(`\n${recoveryTable(recovery)}`);
writeFileSync(path.join(outDir, 'RESULTS.md'), resultsMarkdown(results) + clusterSection + recoverySection);
writeFileSync(path.join(outDir, 'ratios.svg'), ratiosSvg(results));
console.log(`\nwrote ${path.join(outDir, 'RESULTS.md')} and ratios.svg (${Math.round(results.seconds)} s)`);
const failed = results.checks.filter((c) => !c.ok).length;
if (results.errors.length > 0 || failed > 0) {
  console.log(`${results.errors.length} run(s) failed, ${failed} check(s) failed: see RESULTS.md`);
  process.exitCode = 1;
}
