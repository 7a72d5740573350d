// Turns results into the console table and RESULTS.md: medians with their spread, the ratios
// sente-rx ÷ peer, the targets of issue 5, and the CPU of both sides so a reader sees the limit.

import type { Results, Values } from './bench.js';
import { METRICS, SCENARIO_TITLES, type MetricDef, type MetricKey, type Scenario, type Target } from './metrics.js';
import { SENTE_WIRE, type Impl } from './types.js';

export const IMPL_TITLES: Record<Impl, string> = { 'sente-rx': 'sente-rx', 'sente-rx/wire': 'sente-rx (wire loaders)', ws: 'raw ws', 'socket.io': 'Socket.IO' };

/** What the ratios are taken of: sente-rx with its RxJS client, or with wire-protocol load generators. */
export type Subject = 'sente-rx' | typeof SENTE_WIRE;

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
  if (def.better === null) return `${def.format(s.median)} (${Math.round(s.min)}–${Math.round(s.max)})`;
  const sp = spreadPct(s);
  return `${def.format(s.median)} ±${sp.toFixed(sp < 10 ? 1 : 0)}%`;
}

const fmtRatio = (r: number | undefined): string => (r === undefined ? '—' : `${r.toFixed(2)}×`);

export interface TargetVerdict {
  readonly def: MetricDef;
  readonly target: Target;
  readonly ratio: number | undefined;
  readonly met: boolean | undefined;
  /** The ratio's extremes over the runs (worst subject ÷ best peer and the reverse), when there are several runs. */
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

function meets(t: Target, r: number | undefined): boolean | undefined {
  if (r === undefined) return undefined;
  return t.op === '<=' ? r <= t.ratio : t.op === '>=' ? r >= t.ratio : r < t.ratio;
}

export function targetVerdicts(values: Values, subject: Subject = 'sente-rx'): TargetVerdict[] {
  const out: TargetVerdict[] = [];
  for (const def of METRICS) {
    for (const target of def.targets ?? []) {
      const r = ratio(values, def.key, target.peer, subject);
      const range = ratioRange(values, def.key, target.peer, subject);
      const borderline = range !== undefined && meets(target, range[0]) !== meets(target, range[1]);
      out.push({ def, target, ratio: r, met: meets(target, r), range, borderline });
    }
  }
  return out;
}

const targetText = (t: Target): string => `${t.op === '<' ? '<' : t.op === '<=' ? '≤' : '≥'} ${t.ratio}× ${IMPL_TITLES[t.peer]}`;

function header(subject: Subject): string[] {
  const name = IMPL_TITLES[subject];
  return ['figure', name, 'raw ws', 'Socket.IO', `${name} ÷ ws`, `${name} ÷ Socket.IO`, 'target (issue 5)'];
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
    const verdicts = (def.targets ?? []).map((t) => {
      const met = meets(t, ratio(results.values, def.key, t.peer, subject));
      const range = ratioRange(results.values, def.key, t.peer, subject);
      const borderline = range !== undefined && meets(t, range[0]) !== meets(t, range[1]);
      return `${targetText(t)}: ${met === undefined ? 'n/a' : met ? 'met' : 'MISSED'}${borderline ? ' (borderline)' : ''}`;
    });
    const ratios = def.better === null ? ['', ''] : [fmtRatio(ratio(results.values, def.key, 'ws', subject)), fmtRatio(ratio(results.values, def.key, 'socket.io', subject))];
    rows.push([`${def.label}${def.unit && !def.format(1).includes(def.unit) ? ` (${def.unit})` : ''}`, ...impls.map((i) => cell(def, statOf(results.values, def.key, i))), ...ratios, verdicts.join('; ')]);
  }
  return rows;
}

function textTable(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((v, c) => (c === 0 || c === r.length - 1 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ').trimEnd()).join('\n');
}

export function consoleTable(results: Results): string {
  const parts = [textTable([header('sente-rx'), ...tableRows(results, false, 'sente-rx')])];
  const wire = tableRows(results, false, SENTE_WIRE);
  if (wire.length > 0) parts.push(textTable([header(SENTE_WIRE), ...wire]));
  return parts.join('\n\n');
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
  lines.push(`Generated by \`npm run bench${c.name === 'quick' ? ' -- --quick' : ''}\` (configuration **${c.name}**, ${c.runs} run${c.runs > 1 ? 's' : ''} per scenario and implementation) on ${results.startedAt.slice(0, 10)}; the run took ${Math.round(results.seconds)} s. Issue 5.`);
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
  lines.push(`sente-rx's load generators here run \`@sente-rx/client\` (the RxJS client, \`WebSocket\` from \`ws\`, \`fetch\` for Ajax), as an app would.`);
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
  if (results.notes.length > 0) {
    lines.push('');
    for (const n of results.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Targets (issue 5; reported, not asserted)');
  lines.push('');
  lines.push('The verdict uses the ratio of medians; the range is the worst and best ratio any pair of runs allows, and "borderline" marks');
  lines.push('a target that range straddles, where another invocation may well give the other verdict.');
  lines.push('');
  const verdictText = (v: TargetVerdict): string => {
    const range = v.range ? ` (runs allow ${v.range[0].toFixed(2)}–${v.range[1].toFixed(2)}×${v.borderline ? ': borderline' : ''})` : '';
    return `${fmtRatio(v.ratio)}${range} **${v.met === undefined ? 'not measured' : v.met ? 'met' : 'missed'}**`;
  };
  verdicts.forEach((v, i) => {
    const w = wireVerdicts[i];
    const wire = hasWire && w && w.ratio !== undefined ? `; with wire-protocol load generators ${verdictText(w)}` : '';
    lines.push(`- ${SCENARIO_TITLES[v.def.scenario]}, ${v.def.label}: sente-rx ${targetText(v.target)} → ${verdictText(v)}${wire}`);
  });
  lines.push('');
  lines.push('## Method');
  lines.push('');
  lines.push('Each run starts a fresh server process (`node --expose-gc`, pinned to core 0) and load-generator processes (core 1);');
  lines.push('the orchestrator drives them over IPC and samples `process.cpuUsage()` and counters in every process at the start and');
  lines.push('end of each measured window. Every loop is bounded in count and time. Implementations are interleaved within each run.');
  lines.push('Load generators: sente-rx: `@sente-rx/client`' + (hasWire ? ' (and, in its own table, bare sockets speaking the wire protocol)' : '') + '; raw ws: `ws` clients;');
  lines.push("Socket.IO: `socket.io-client` with `forceNew` (one engine connection per client), `transports: ['websocket']`, or `['polling']` for long-polling.");
  if (c.quietWaitMs > 0) lines.push(`Before each run the orchestrator waits (up to ${c.quietWaitMs / 1000} s) until other processes use less than ${c.disturbedPct} % of a core.`);
  if (c.retries > 0) lines.push(`A run during which other processes used more than ${c.disturbedPct} % of a core is repeated (at most ${c.retries} times).`);
  lines.push('');
  if (c.idle) lines.push(`1. **Idle memory**: ${c.idle.warm} warm-up connections stay open, then the server's heap and RSS are taken after \`gc()\`; ${c.idle.conns.toLocaleString('en-US')} WebSocket connections (10 per uid) are opened, ${c.idle.settleMs} ms of settling, \`gc()\` again; the delta ÷ ${c.idle.conns.toLocaleString('en-US')}.`);
  if (c.reqrep) lines.push(`2. **Request/reply**: ${c.reqrep.clients} clients, one request outstanding each (a small object echoed back); ${c.reqrep.warmupMs} ms warm-up, then a ${c.reqrep.durationMs / 1000} s window. raw ws: id-correlated JSON echo; Socket.IO: \`emitWithAck\`; sente-rx: \`send(ev, { timeoutMs })\` answered by \`msg.reply\`. RTT is measured in the client. After the window the clients stop, outstanding requests drain, and replies the server sent must equal replies the clients received.`);
  if (c.fanout) lines.push(`3. **Push fan-out**: ${c.fanout.users} users × ${c.fanout.clientsPerUser} clients over WebSocket; the server pushes one event per send to a user (sente-rx \`send(uid, ev)\` with its default 30 ms batching; Socket.IO \`io.to(uid).emit\` with a room per uid; raw ws a uid → sockets map, one JSON frame per socket). Saturation: a closed loop keeps at most ${c.fanout.window.toLocaleString('en-US')} deliveries in flight (the load generators report what they received every 5 ms); ${c.fanout.durationMs / 1000} s window after ${c.fanout.warmupMs} ms warm-up. At saturation latency is mostly queueing (≈ window ÷ rate), so a paced phase (${c.fanout.pacedRate.toLocaleString('en-US')} deliveries/s for ${c.fanout.pacedMs / 1000} s) measures latency below saturation. The payload carries the send time on the shared monotonic clock. Everything sent must be delivered before the next phase.`);
  if (c.longpoll) lines.push(`4. **Long-polling push**: as 3 with ${c.longpoll.users} users × ${c.longpoll.clientsPerUser} clients on sente-rx Ajax long-polling (default 100 ms batching) and Socket.IO \`transports: ['polling']\` (socket.io-client's XHR polling on Node); at most ${c.longpoll.window.toLocaleString('en-US')} deliveries in flight. raw ws has no long-polling.`);
  if (c.connrate) lines.push(`5. **Connection rate**: ${c.connrate.clients.toLocaleString('en-US')} clients start connecting at once (listen backlog 4,096); handshakes/s = clients ÷ time until the last handshake completed (sente-rx: the \`chsk/handshake\` frame; Socket.IO: \`connect\`; raw ws: a hello frame the server sends on open).`);
  if (c.bundle) lines.push(`6. **Client bundle**: esbuild, \`--bundle --minify --platform=browser --format=esm\`, then gzip -9, of \`export { createChannelSocketClient } from '@sente-rx/client'\` (with the RxJS it uses) and \`export { io } from 'socket.io-client'\`; once with esbuild's default conditions and once with \`--conditions=es2015\` (RxJS's ES2015 build). raw ws: a bare-WebSocket client with JSON, id-correlated requests and a push handler. Deterministic, so built once.`);
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
