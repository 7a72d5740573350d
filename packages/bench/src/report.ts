// Turns results into the console table and RESULTS.md: medians with their spread, the ratios
// sente-rx ÷ peer, the targets of issues 5, 9 and 10, and the CPU of both sides so a reader sees
// the limit.

import type { Results, Values } from './bench.js';
import { METRICS, metricLabel, SCENARIO_TITLES, type MetricDef, type MetricKey, type Op, type Scenario, type Target } from './metrics.js';
import { SENTE_FLUSH, SENTE_WIRE, WS_AA, type Impl } from './types.js';

export const IMPL_TITLES: Record<Impl, string> = {
  'sente-rx': 'sente-rx',
  'sente-rx/wire': 'sente-rx (wire loaders)',
  'sente-rx/flush': 'sente-rx { flush: true }',
  ws: 'raw ws',
  'ws/aa': 'raw ws again (A/A)',
  'socket.io': 'Socket.IO',
};

/**
 * What the ratios are taken of: sente-rx with its RxJS client, with wire-protocol load
 * generators, with `{ flush: true }`, or raw ws itself (the A/A control).
 */
export type Subject = 'sente-rx' | typeof SENTE_WIRE | typeof SENTE_FLUSH | typeof WS_AA;

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function stat(xs: readonly number[] | undefined): Stat | undefined {
  const finite = (xs ?? []).filter((x) => Number.isFinite(x));
  if (finite.length === 0) return undefined;
  const s = [...finite].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

export function statOf(values: Values, key: MetricKey, impl: Impl): Stat | undefined {
  return stat(values[key]?.[impl]);
}

/** Median of the subject (sente-rx by default) ÷ median of the peer. */
export function ratio(values: Values, key: MetricKey, peer: Impl, subject: Subject = 'sente-rx'): number | undefined {
  const a = statOf(values, key, subject);
  const b = statOf(values, key, peer);
  if (!a || !b || b.median === 0) return undefined;
  return a.median / b.median;
}

/** Half the range as a share of the median: the ± of a cell. */
function spreadPct(s: Stat): number {
  return s.median === 0 ? 0 : ((s.max - s.min) / 2 / Math.abs(s.median)) * 100;
}

/** `median ±spread%`; context figures (CPU shares, often near 0) as `median (min–max)`. */
export function cell(def: MetricDef, s: Stat | undefined): string {
  if (!s) return '—';
  if (s.n < 2) return def.format(s.median);
  if (def.better === null) {
    // CPU shares as whole percents; other context figures (msgs per frame, µs per frame) in their own format.
    const [lo, hi] = def.unit === '%' ? [Math.round(s.min), Math.round(s.max)] : [def.format(s.min), def.format(s.max)];
    return `${def.format(s.median)} (${lo}–${hi})`;
  }
  const sp = spreadPct(s);
  return `${def.format(s.median)} ±${sp.toFixed(sp < 10 ? 1 : 0)}%`;
}

const fmtRatio = (r: number | undefined): string => (r === undefined ? '—' : `${r.toFixed(2)}×`);

export interface TargetVerdict {
  readonly def: MetricDef;
  readonly target: Target;
  /** What the target is held against: the ratio, the subject's own median, or the difference. */
  readonly value: number | undefined;
  readonly met: boolean | undefined;
  /** The value's extremes over the runs (e.g. worst subject ÷ best peer and the reverse), when there are several runs. */
  readonly range: readonly [number, number] | undefined;
  /** The range straddles the target: the verdict could go either way run to run. */
  readonly borderline: boolean;
}

/** The lowest and highest ratio the runs allow: min ÷ max and max ÷ min. */
export function ratioRange(values: Values, key: MetricKey, peer: Impl, subject: Subject = 'sente-rx'): [number, number] | undefined {
  const a = statOf(values, key, subject);
  const b = statOf(values, key, peer);
  if (!a || !b || a.n < 2 || b.n < 2 || b.min <= 0) return undefined;
  return [a.min / b.max, a.max / b.min];
}

function holds(op: Op, v: number | undefined, bound: number): boolean | undefined {
  if (v === undefined) return undefined;
  return op === '<=' ? v <= bound : op === '>=' ? v >= bound : v < bound;
}

const bound = (t: Target): number => (t.kind === 'limit' || t.kind === 'diff' ? t.value : t.ratio);

function targetValue(values: Values, def: MetricDef, t: Target, subject: Subject): number | undefined {
  if (t.kind === 'limit') return statOf(values, def.key, subject)?.median;
  if (t.kind === 'diff') {
    const a = statOf(values, def.key, subject);
    const b = statOf(values, def.key, t.peer);
    return a && b ? a.median - b.median : undefined;
  }
  return ratio(values, def.key, t.peer, subject);
}

function targetRange(values: Values, def: MetricDef, t: Target, subject: Subject): [number, number] | undefined {
  const a = statOf(values, def.key, subject);
  if (t.kind === 'limit') return a && a.n >= 2 ? [a.min, a.max] : undefined;
  if (t.kind === 'diff') {
    const b = statOf(values, def.key, t.peer);
    return a && b && a.n >= 2 && b.n >= 2 ? [a.min - b.max, a.max - b.min] : undefined;
  }
  return ratioRange(values, def.key, t.peer, subject);
}

export function verdict(values: Values, def: MetricDef, target: Target, subject: Subject = 'sente-rx'): TargetVerdict {
  const value = targetValue(values, def, target, subject);
  const range = targetRange(values, def, target, subject);
  const borderline = range !== undefined && holds(target.op, range[0], bound(target)) !== holds(target.op, range[1], bound(target));
  return { def, target, value, met: holds(target.op, value, bound(target)), range, borderline };
}

export function targetVerdicts(values: Values, subject: Subject = 'sente-rx'): TargetVerdict[] {
  return METRICS.flatMap((def) => (def.targets ?? []).map((t) => verdict(values, def, t, subject)));
}

/** A value in the figure's unit, with the unit when the format does not print one. */
function withUnit(def: MetricDef, v: number): string {
  const text = def.format(v);
  return def.unit && !/[a-zA-Z×%µ]$/.test(text) ? `${text} ${def.unit}` : text;
}

const opText = (op: Op): string => (op === '<' ? '<' : op === '<=' ? '≤' : '≥');

function targetText(def: MetricDef, t: Target): string {
  if (t.kind === 'limit') return `${opText(t.op)} ${withUnit(def, t.value)} (issue ${t.issue})`;
  if (t.kind === 'diff') return `${opText(t.op)} ${IMPL_TITLES[t.peer]} + ${withUnit(def, t.value)} (issue ${t.issue})`;
  return `${opText(t.op)} ${t.ratio}× ${IMPL_TITLES[t.peer]} (issue ${t.issue})`;
}

function valueText(v: TargetVerdict, x: number | undefined = v.value): string {
  if (x === undefined) return '—';
  if (v.target.kind === 'limit') return withUnit(v.def, x);
  if (v.target.kind === 'diff') return `${x >= 0 ? '+' : '−'}${withUnit(v.def, Math.abs(x))}`;
  return fmtRatio(x);
}

function header(subject: Subject): string[] {
  const name = IMPL_TITLES[subject];
  return ['figure', name, 'raw ws', 'Socket.IO', `${name} ÷ ws`, `${name} ÷ Socket.IO`, 'targets (issues 5, 9, 10)'];
}

function tableRows(results: Results, markdown: boolean, subject: Subject): string[][] {
  const rows: string[][] = [];
  const impls: Impl[] = [subject, 'ws', 'socket.io'];
  let scenario: Scenario | undefined;
  for (const def of METRICS) {
    if (!results.values[def.key]?.[subject]) continue;
    if (def.scenario !== scenario) {
      scenario = def.scenario;
      rows.push([markdown ? `**${SCENARIO_TITLES[scenario]}**` : `[${SCENARIO_TITLES[scenario]}]`, '', '', '', '', '', '']);
    }
    // Targets are sente-rx's own (with either load generator); the variants' tables show none.
    const targets = subject === 'sente-rx' || subject === SENTE_WIRE ? (def.targets ?? []) : [];
    const verdicts = targets.map((t) => {
      const v = verdict(results.values, def, t, subject);
      return `${targetText(def, t)}: ${v.met === undefined ? 'n/a' : `${valueText(v)} ${v.met ? 'met' : 'MISSED'}`}${v.borderline ? ' (borderline)' : ''}`;
    });
    const ratios = def.better === null ? ['', ''] : [fmtRatio(ratio(results.values, def.key, 'ws', subject)), fmtRatio(ratio(results.values, def.key, 'socket.io', subject))];
    const label = metricLabel(def, results.config);
    rows.push([`${label}${def.unit && !def.format(1).includes(def.unit) ? ` (${def.unit})` : ''}`, ...impls.map((i) => cell(def, statOf(results.values, def.key, i))), ...ratios, verdicts.join('; ')]);
  }
  return rows;
}

function textTable(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((v, c) => (c === 0 || c === r.length - 1 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ').trimEnd()).join('\n');
}

const EXTRA_SUBJECTS = [SENTE_WIRE, SENTE_FLUSH, WS_AA] as const;

export function consoleTable(results: Results): string {
  const parts = [textTable([header('sente-rx'), ...tableRows(results, false, 'sente-rx')])];
  for (const subject of EXTRA_SUBJECTS) {
    const rows = tableRows(results, false, subject);
    if (rows.length > 0) parts.push(textTable([header(subject), ...rows]));
  }
  const lat = latencyRows(results);
  if (lat.length > 1) parts.push(textTable(lat));
  const pk = packerRows(results);
  if (pk.length > 1) parts.push(textTable(pk));
  else if (results.packers?.skipped) parts.push(`[Packers] skipped: ${results.packers.skipped}`);
  return parts.join('\n\n');
}

/** Issue 10's latency comparison, every variant side by side, with the difference to raw ws. */
function latencyRows(results: Results): string[][] {
  const v = results.values;
  const impls = (['sente-rx', SENTE_FLUSH, SENTE_WIRE, 'ws', WS_AA, 'socket.io'] as const).filter((i) => v['latency.p50']?.[i]);
  if (impls.length === 0) return [];
  const rows: string[][] = [['latency at low load (ms)', ...impls.map((i) => IMPL_TITLES[i])]];
  for (const key of ['latency.p50', 'latency.p99'] as const) {
    const def = METRICS.find((d) => d.key === key)!;
    const ws = statOf(v, key, 'ws');
    rows.push([def.label, ...impls.map((i) => cell(def, statOf(v, key, i)))]);
    rows.push([`— minus raw ws`, ...impls.map((i) => {
      const s = statOf(v, key, i);
      return s && ws ? `${s.median - ws.median >= 0 ? '+' : '−'}${Math.abs(s.median - ws.median).toFixed(3)}` : '—';
    })]);
  }
  return rows;
}

/** The packers table: bytes and encode+decode time per packer and payload, against JSON. */
function packerRows(results: Results): string[][] {
  const rows = results.packers?.rows ?? [];
  if (rows.length === 0) return [];
  const json = (payload: string) => rows.find((r) => r.packer === 'json (default)' && r.payload === payload);
  const out: string[][] = [['packer', 'payload', 'bytes', '÷ JSON', 'encode+decode (µs)', '÷ JSON', 'binary', 'exact round trip']];
  for (const r of rows) {
    const j = json(r.payload);
    out.push([
      r.packer,
      r.payload === 'batch' ? '20 events of small maps' : '64 KiB of records',
      r.bytes.toLocaleString('en-US'),
      j ? fmtRatio(r.bytes / j.bytes) : '—',
      r.encodeDecodeUs.toFixed(r.encodeDecodeUs < 100 ? 2 : 0),
      j ? fmtRatio(r.encodeDecodeUs / j.encodeDecodeUs) : '—',
      r.binary ? 'yes' : 'no',
      r.exact ? 'yes' : 'no',
    ]);
  }
  return out;
}

function markdownOf(rows: string[][]): string {
  const [h, ...body] = rows;
  if (!h) return '';
  return [`| ${h.join(' | ')} |`, `|${h.map((_, i) => (i === 0 ? '---' : '--:')).join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function markdownTable(results: Results, subject: Subject): string {
  const h = header(subject);
  const rows = tableRows(results, true, subject);
  return [`| ${h.join(' | ')} |`, `|${h.map((_, i) => (i === 0 || i === h.length - 1 ? '---' : '--:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function resultsMarkdown(results: Results): string {
  const c = results.config;
  const m = results.machine;
  const failed = results.checks.filter((x) => !x.ok);
  const verdicts = targetVerdicts(results.values);
  const wireVerdicts = targetVerdicts(results.values, SENTE_WIRE);
  const hasWire = METRICS.some((d) => results.values[d.key]?.[SENTE_WIRE]);
  const lines: string[] = [];
  lines.push('# sente-rx benchmarks: side by side with raw `ws` and Socket.IO');
  lines.push('');
  lines.push(`Generated by \`npm run bench${c.name === 'quick' ? ' -- --quick' : ''}\` (configuration **${c.name}**, ${c.runs} run${c.runs > 1 ? 's' : ''} per scenario and implementation) on ${results.startedAt.slice(0, 10)}; the run took ${Math.round(results.seconds)} s. Issues 5, 9 and 10.`);
  lines.push('');
  lines.push('![sente-rx against raw ws and Socket.IO: bars right of 1× mean sente-rx is better](ratios.svg)');
  lines.push('');
  lines.push('## Machine');
  lines.push('');
  lines.push(`- ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}`);
  lines.push(`- ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`- Pinning: ${results.pinning}. All traffic on 127.0.0.1.`);
  lines.push(`- 1-minute load average ${m.loadAvg[0].toFixed(2)} at the start, ${m.loadAvg[1].toFixed(2)} at the end (the benchmark itself keeps about two cores busy). Work by other processes during each measured window is in the "other CPU on the machine" rows (/proc/stat busy time less the benchmark's own processes); where it is high, absolute figures are low and spreads wide, while ratios within a run hold up better.`);
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push('Cells are the median over the runs, ± half the range (max − min) as a share of the median; CPU shares show (min–max). Ratios are median ÷ median;');
  lines.push('for figures where lower is better (memory, CPU, latency, bytes) a ratio under 1× favours sente-rx. "Server CPU" and');
  lines.push('"load generator CPU" are process CPU time over the measured window ÷ wall time (100 % = one core): whichever side is');
  lines.push('near 100 % was the limit of the throughput beside it, and server CPU per operation is then the figure to compare.');
  lines.push('');
  lines.push(`sente-rx's load generators here run \`@sente-rx/client\` (the RxJS client, \`WebSocket\` from \`ws\`), as an app would; for Ajax it is given a \`fetch\` on node:http with a keep-alive agent, as Socket.IO's Node client polls on node:http (Node's built-in undici \`fetch\` costs the load generator about 13× more CPU per request and would make it the limit).`);
  lines.push('');
  lines.push(markdownTable(results, 'sente-rx'));
  lines.push('');
  if (hasWire) {
    lines.push('### sente-rx with wire-protocol load generators');
    lines.push('');
    lines.push('The same sente-rx server, loaded by bare `ws` sockets (and `node:http` long-polls with a keep-alive agent) that speak');
    lines.push("its wire protocol (packages/core/PROTOCOL.md) instead of running the RxJS client. Where the RxJS client's own cost is what");
    lines.push('saturates the load-generator core above, this shows what the server does when the client is not the limit. The peer');
    lines.push('columns are the same measurements as above (their own client libraries).');
    lines.push('');
    lines.push(markdownTable(results, SENTE_WIRE));
    lines.push('');
  }
  const has = (subject: Subject): boolean => METRICS.some((d) => results.values[d.key]?.[subject]);
  if (has(SENTE_FLUSH)) {
    lines.push('### sente-rx with `{ flush: true }`');
    lines.push('');
    lines.push('The same server and RxJS client, every push sent with `send(uid, ev, { flush: true })`: it leaves at once instead of');
    lines.push('waiting for the batching window (issue 10). Compare with the default options in the first table.');
    lines.push('');
    lines.push(markdownTable(results, SENTE_FLUSH));
    lines.push('');
  }
  if (has(WS_AA)) {
    lines.push('### A/A control: raw ws against itself');
    lines.push('');
    lines.push('raw ws measured a second time in the same runs, as if it were another implementation. Nothing differs, so its');
    lines.push('ratio to raw ws is the noise of this machine and method: a sente-rx ratio within that distance of 1× says nothing.');
    lines.push('');
    lines.push(markdownTable(results, WS_AA));
    lines.push('');
  }
  const lat = latencyRows(results);
  if (lat.length > 1) {
    lines.push('### Latency at low load, side by side');
    lines.push('');
    lines.push('One push in flight at a time, each to a user idle since its last one (issue 10: sente-rx within 1 ms of raw ws at p50).');
    lines.push('');
    lines.push(markdownOf(lat));
    lines.push('');
  }
  const batches = results.presenceBatches ?? {};
  if (Object.keys(batches).length > 0) {
    lines.push('### Presence: server CPU per connect, batch by batch');
    lines.push('');
    lines.push('Each batch connects new, distinct users while every earlier one stays connected (issue 9 item 5: within 1.5× from the first level to the last).');
    lines.push('');
    for (const [impl, runs] of Object.entries(batches) as [Impl, { users: number; cpuPerConnectUs: number }[][]][]) {
      runs.forEach((run, i) => {
        lines.push(`- ${IMPL_TITLES[impl]}, run ${i + 1}: ${run.map((b) => `${b.users.toLocaleString('en-US')}: ${Math.round(b.cpuPerConnectUs)} µs`).join(' · ')}`);
      });
    }
    lines.push('');
  }
  if (results.packers) {
    lines.push('### Packers');
    lines.push('');
    const pk = packerRows(results);
    if (results.packers.skipped) lines.push(`Not measured: ${results.packers.skipped}.`);
    else {
      lines.push('Wire bytes and one pack + one unpack (median of ~1 ms rounds, in the orchestrator process) per packer, against the JSON default.');
      lines.push('');
      lines.push(markdownOf(pk));
      const srv = results.packers.server ?? [];
      const jsonCpu = srv.find((r) => r.packer === 'json (default)')?.cpuPerReplyUs;
      if (srv.length > 0) {
        lines.push('');
        lines.push('Server CPU per reply over WebSocket (a sente-rx server child on each packer; one socket from the orchestrator, 16 echo requests in flight, after a warm-up):');
        lines.push('');
        lines.push(markdownOf([['packer', 'replies', 'server CPU per reply (µs)', '÷ JSON'], ...srv.map((r) => [r.packer, r.replies.toLocaleString('en-US'), r.cpuPerReplyUs.toFixed(1), jsonCpu ? fmtRatio(r.cpuPerReplyUs / jsonCpu) : '—'])]));
      }
      const bundles = results.packers.bundles ?? [];
      const jsonGz = bundles.find((r) => r.packer === 'json (default)')?.gzipBytes;
      if (bundles.length > 0) {
        lines.push('');
        lines.push('Browser client bundle with each packer (`createChannelSocketClient` plus the packer from its subpath export; esbuild minified, gzip -9):');
        lines.push('');
        lines.push(markdownOf([['packer', 'min (bytes)', 'gzip (bytes)', '+ gzip over JSON'], ...bundles.map((r) => [r.packer, r.minBytes.toLocaleString('en-US'), r.gzipBytes.toLocaleString('en-US'), jsonGz === undefined ? '—' : `${(r.gzipBytes - jsonGz).toLocaleString('en-US')}`])]));
      }
    }
    lines.push('');
  }
  if (results.notes.length > 0) {
    lines.push('');
    for (const n of results.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Targets (issues 5, 9 and 10; reported, not asserted)');
  lines.push('');
  lines.push('The verdict uses the medians (their ratio, their difference, or the figure itself); the range is the worst and best value any');
  lines.push('pair of runs allows, and "borderline" marks a target that range straddles, where another invocation may well give the other verdict.');
  lines.push('');
  const verdictText = (v: TargetVerdict): string => {
    const range = v.range ? ` (runs allow ${valueText(v, v.range[0])} to ${valueText(v, v.range[1])}${v.borderline ? ': borderline' : ''})` : '';
    return `${valueText(v)}${range} **${v.met === undefined ? 'not measured' : v.met ? 'met' : 'missed'}**`;
  };
  verdicts.forEach((v, i) => {
    const w = wireVerdicts[i];
    const wire = hasWire && w && w.value !== undefined ? `; with wire-protocol load generators ${verdictText(w)}` : '';
    lines.push(`- ${SCENARIO_TITLES[v.def.scenario]}, ${metricLabel(v.def, c)}: sente-rx ${targetText(v.def, v.target)} → ${verdictText(v)}${wire}`);
  });
  // Presence growth is a property of each implementation: show the peers' too.
  const growth = METRICS.find((d) => d.key === 'presence.growth');
  if (growth && results.values['presence.growth']) {
    const peers = (['ws', 'socket.io'] as const).map((i) => `${IMPL_TITLES[i]} ${cell(growth, statOf(results.values, 'presence.growth', i))}`);
    lines.push(`- For comparison, presence growth of the peers: ${peers.join(', ')}.`);
  }
  lines.push('');
  lines.push('## Method');
  lines.push('');
  lines.push('Each run starts a fresh server process (`node --expose-gc`, pinned to core 0) and load-generator processes (core 1);');
  lines.push('the orchestrator drives them over IPC and samples `process.cpuUsage()` and counters in every process at the start and');
  lines.push('end of each measured window. Every loop is bounded in count and time. Implementations are interleaved within each run.');
  lines.push('Load generators: sente-rx: `@sente-rx/client`' + (hasWire ? ' (and, in its own table, bare sockets speaking the wire protocol)' : '') + '; raw ws: `ws` clients;');
  lines.push('sente-rx runs the server with its default options unless a table says `{ flush: true }`.');
  lines.push("Socket.IO: `socket.io-client` with `forceNew` (one engine connection per client), `transports: ['websocket']`, or `['polling']` for long-polling.");
  if (c.quietWaitMs > 0) lines.push(`Before each run the orchestrator waits (up to ${c.quietWaitMs / 1000} s) until other processes use less than ${c.disturbedPct} % of a core.`);
  if (c.retries > 0) lines.push(`A run during which other processes used more than ${c.disturbedPct} % of a core is repeated (at most ${c.retries} times).`);
  lines.push('');
  if (c.idle) lines.push(`1. **Idle memory**: ${c.idle.warm} warm-up connections stay open, then the server's heap and RSS are taken after \`gc()\`; ${c.idle.conns.toLocaleString('en-US')} WebSocket connections (10 per uid) are opened, ${c.idle.settleMs} ms of settling, \`gc()\` again; the delta ÷ ${c.idle.conns.toLocaleString('en-US')}.`);
  if (c.reqrep) lines.push(`2. **Request/reply**: ${c.reqrep.clients} clients, one request outstanding each (a small object echoed back); ${c.reqrep.warmupMs} ms warm-up, then a ${c.reqrep.durationMs / 1000} s window. raw ws: id-correlated JSON echo; Socket.IO: \`emitWithAck\`; sente-rx: \`send(ev, { timeoutMs })\` answered by \`msg.reply\`. RTT is measured in the client. After the window the clients stop, outstanding requests drain, and replies the server sent must equal replies the clients received.`);
  if (c.fanout) lines.push(`3. **Push fan-out**: ${c.fanout.users} users × ${c.fanout.clientsPerUser} clients over WebSocket; the server pushes one event per send to a user (sente-rx \`send(uid, ev)\` with its default 30 ms batching; Socket.IO \`io.to(uid).emit\` with a room per uid; raw ws a uid → sockets map, one JSON frame per socket). Saturation: a closed loop keeps at most ${c.fanout.window.toLocaleString('en-US')} deliveries in flight (the load generators report what they received every 5 ms); ${c.fanout.durationMs / 1000} s window after ${c.fanout.warmupMs} ms warm-up. At saturation latency is mostly queueing (≈ window ÷ rate), so a paced phase (${c.fanout.pacedRate.toLocaleString('en-US')} deliveries/s for ${c.fanout.pacedMs / 1000} s) measures latency below saturation. The payload carries the send time on the shared monotonic clock. Everything sent must be delivered before the next phase.`);
  if (c.longpoll) lines.push(`4. **Long-polling push**: as 3 with ${c.longpoll.users} users × ${c.longpoll.clientsPerUser} clients on sente-rx Ajax long-polling (default 100 ms batching) and Socket.IO \`transports: ['polling']\` (socket.io-client's XHR polling on Node); at most ${c.longpoll.window.toLocaleString('en-US')} deliveries in flight. raw ws has no long-polling.`);
  if (c.connrate) lines.push(`5. **Connection rate**: ${c.connrate.clients.toLocaleString('en-US')} clients start connecting at once (listen backlog 4,096); handshakes/s = clients ÷ time until the last handshake completed (sente-rx: the \`chsk/handshake\` frame; Socket.IO: \`connect\`; raw ws: a hello frame the server sends on open).`);
  if (c.latency) lines.push(`7. **Latency at low load**: ${c.latency.users} users, one WebSocket client each; the server pushes to one user at a time, round-robin, and the next push leaves only when the load generator has reported the last one delivered (at once, over IPC), so every push goes to a user idle for ${c.latency.users - 1} pushes. ${c.latency.warmupMs} ms warm-up, then a ${c.latency.durationMs / 1000} s window; p50/p99 of send→receive on the shared monotonic clock. Run for sente-rx with default options and with \`{ flush: true }\`, raw ws twice (the A/A control) and Socket.IO.`);
  if (c.presence) lines.push(`8. **Presence**: a fresh server, warmed up by one batch of connections of distinct users that are then closed, and 3.5 s (past sente-rx's reconnect grace, so their departures stay out of the first batch); new, distinct users connect over WebSocket in batches of ${c.presence.batch.toLocaleString('en-US')} (64 handshakes in flight per load generator, ${c.presence.loaders} load generators, earlier users stay connected) until ${c.presence.levels.map((l) => l.toLocaleString('en-US')).join(', ')} users; server CPU over each batch (plus 100 ms for deferred work) ÷ its connects, reported for the batches ending at each level, and growth = last ÷ first level in the same run (under 1× means the first batch still carried warm-up costs, i.e. no growth). What a connect does: sente-rx registers the client and its uid (\`connectedUids$\`; loaded by wire-protocol sockets, which cost its server the same handshake); raw ws adds the socket to a uid → Set map and sends a hello frame; Socket.IO joins a room named after the uid. Keep-alive pings are off for the servers that send them (sente-rx \`wsKeepAliveMs: 0\`, Socket.IO \`pingInterval\` 1 h; raw ws sends none): a ping costs per held connection per second, so in a batch's window pings grow with the users held × the batch's wall time, which a busy machine stretches, rather than with the connects. Capped at ${c.presence.maxMs / 1000} s per run; bounded by the server's open-file limit.`);
  if (c.reqrep) lines.push(`The request/reply scenario also reports the load generators' CPU per reply: \`@sente-rx/client\` against the bare \`ws\` client (issue 10: ≤ 1.1×).`);
  if (c.packers) lines.push(`9. **Packers**: when \`@sente-rx/packers\` can be imported, each value it exports with \`pack\`, \`unpack\` and \`binary\`, against \`jsonPacker\`: packed bytes and one pack + one unpack of a batch of 20 events of small maps and of one ~64 KiB event of records; warm-up, then rounds of ≥ 1 ms for at least ${c.packers.minMs} ms (≤ ${c.packers.maxIterations.toLocaleString('en-US')} iterations), median round. ${c.packers.serverReplies ? `Then, per packer, a sente-rx server child on it answers ${c.packers.serverReplies.toLocaleString('en-US')} echo requests over one WebSocket (16 in flight, after a warm-up): its CPU between two marks ÷ replies. ` : ''}And the browser client bundle with each packer's subpath export.`);
  if (c.bundle) lines.push(`6. **Client bundle**: esbuild, \`--bundle --minify --platform=browser --format=esm\`, then gzip -9, of \`export { createChannelSocketClient } from '@sente-rx/client'\` (with the RxJS it uses) and \`export { io } from 'socket.io-client'\`; once with esbuild's default conditions and once with \`--conditions=es2015\` (RxJS's ES2015 build). raw ws: a bare-WebSocket client with JSON, id-correlated requests and a push handler. Deterministic, so built once. The sente-rx bundle is also split by origin from esbuild's metafile (minified bytes of @sente-rx/client, @sente-rx/core, rxjs, the rest). sente-rx is bundled twice: the full client (\`@sente-rx/client\`: WebSocket, Ajax, \`auto\`) and the WebSocket-only entry \`export { createChannelSocketClient } from '@sente-rx/client/ws'\`, which issue 10's ≤ 9,000 B target is held to; the full client's figure is reported next to it.`);
  lines.push('');
  lines.push('## Sanity checks');
  lines.push('');
  lines.push(failed.length === 0 ? `All ${results.checks.length} checks passed (connections opened, replies sent = received, pushes sent = delivered, no Node code in browser bundles).` : `${failed.length} of ${results.checks.length} checks failed:`);
  for (const f of failed) lines.push(`- ${f.scenario} / ${f.impl} / run ${f.run}: ${f.name}: ${f.detail}`);
  if (results.errors.length > 0) {
    lines.push('');
    lines.push('## Failed runs');
    lines.push('');
    for (const e of results.errors) lines.push(`- ${e.scenario} / ${e.impl} / run ${e.run}: \`${e.message.split('\n')[0]}\``);
  }
  lines.push('');
  return lines.join('\n');
}
