// Every figure the benchmark reports, how to print it, which direction is better, and the
// targets from issues 5, 9 and 10 it is reported against (never asserted).

import type { BenchConfig } from './config.js';
import { type Impl, type Peer, SENTE_FLUSH, SENTE_WIRE, WS_AA } from './types.js';

export type MetricKey =
  | 'idle.heap'
  | 'idle.rss'
  | 'reqrep.rate'
  | 'reqrep.cpu'
  | 'reqrep.p50'
  | 'reqrep.p99'
  | 'reqrep.srvPct'
  | 'reqrep.loadPct'
  | 'reqrep.otherPct'
  | 'reqrep.loadCpu'
  | 'fanout.rate'
  | 'fanout.cpu'
  | 'fanout.p50'
  | 'fanout.p99'
  | 'fanout.srvPct'
  | 'fanout.loadPct'
  | 'fanout.otherPct'
  | 'fanout.perFrame'
  | 'fanout.loadFrameCpu'
  | 'fanout.pacedP50'
  | 'fanout.pacedP99'
  | 'longpoll.rate'
  | 'longpoll.cpu'
  | 'longpoll.p50'
  | 'longpoll.p99'
  | 'longpoll.srvPct'
  | 'longpoll.loadPct'
  | 'longpoll.otherPct'
  | 'connrate.rate'
  | 'connrate.cpu'
  | 'connrate.srvPct'
  | 'connrate.loadPct'
  | 'connrate.otherPct'
  | 'bundle.gz'
  | 'bundle.gzEs2015'
  | 'bundle.min'
  | 'bundle.minEs2015'
  | 'bundle.partClient'
  | 'bundle.partCore'
  | 'bundle.partRxjs'
  | 'bundle.partOther'
  | 'bundle.wsGz'
  | 'bundle.wsGzEs2015'
  | 'bundle.wsMin'
  | 'bundle.wsMinEs2015'
  | 'bundle.wsPartClient'
  | 'bundle.wsPartCore'
  | 'bundle.wsPartRxjs'
  | 'bundle.wsPartOther'
  | 'latency.p50'
  | 'latency.p99'
  | 'latency.samples'
  | 'latency.otherPct'
  | 'presence.cpu1'
  | 'presence.cpu2'
  | 'presence.cpu3'
  | 'presence.growth'
  | 'presence.otherPct';

export type Scenario = 'idle' | 'reqrep' | 'fanout' | 'longpoll' | 'connrate' | 'latency' | 'presence' | 'bundle' | 'packers';

export type Op = '<=' | '>=' | '<';

/**
 * What a figure is held to (reported, never asserted): `ratio`, subject ÷ peer op `ratio`;
 * `limit`, the subject's own value op `value`; `diff`, subject − peer op `value` (in the figure's unit).
 */
export type Target =
  | { readonly kind?: 'ratio'; readonly peer: Peer; readonly op: Op; readonly ratio: number; readonly issue: number }
  | { readonly kind: 'limit'; readonly op: Op; readonly value: number; readonly issue: number }
  | { readonly kind: 'diff'; readonly peer: Peer; readonly op: Op; readonly value: number; readonly issue: number };

export interface MetricDef {
  readonly key: MetricKey;
  readonly scenario: Scenario;
  readonly label: string;
  readonly unit: string;
  /** Which direction is better; `null` for context figures (CPU load) that have no better. */
  readonly better: 'higher' | 'lower' | null;
  readonly format: (v: number) => string;
  readonly targets?: readonly Target[];
  /** Whether the ratio chart shows it. */
  readonly chart?: boolean;
  /** Peers the chart compares against, when not both (a bare-WebSocket snippet is no library to size against). */
  readonly chartPeers?: readonly Peer[];
  /** Measured only for these implementations (the others have no such thing). */
  readonly only?: readonly Impl[];
}

const fixed = (digits: number) => (v: number) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const kb = (v: number) => `${(v / 1024).toFixed(2)} KB`;
const bytes = (v: number) => `${Math.round(v).toLocaleString('en-US')} B`;
const pct = (v: number) => `${Math.round(v)} %`;

/** The load generators that count the WebSocket frames they receive (Socket.IO's frames are engine.io's: not counted). */
const FRAME_COUNTING: readonly Impl[] = ['sente-rx', SENTE_WIRE, SENTE_FLUSH, 'ws', WS_AA];

export const METRICS: readonly MetricDef[] = [
  { key: 'idle.heap', scenario: 'idle', label: 'idle heap per connection', unit: 'KB', better: 'lower', format: kb, targets: [{ peer: 'ws', op: '<=', ratio: 1.2, issue: 5 }], chart: true },
  { key: 'idle.rss', scenario: 'idle', label: 'idle RSS per connection', unit: 'KB', better: 'lower', format: kb, chart: true },
  { key: 'reqrep.rate', scenario: 'reqrep', label: 'replies/s', unit: '/s', better: 'higher', format: fixed(0), targets: [{ peer: 'ws', op: '>=', ratio: 0.8, issue: 5 }, { peer: 'socket.io', op: '>=', ratio: 1.5, issue: 5 }], chart: true },
  { key: 'reqrep.cpu', scenario: 'reqrep', label: 'server CPU per reply', unit: 'µs', better: 'lower', format: fixed(1), chart: true },
  { key: 'reqrep.p50', scenario: 'reqrep', label: 'RTT p50', unit: 'ms', better: 'lower', format: fixed(2) },
  { key: 'reqrep.p99', scenario: 'reqrep', label: 'RTT p99', unit: 'ms', better: 'lower', format: fixed(2) },
  { key: 'reqrep.srvPct', scenario: 'reqrep', label: 'server CPU', unit: '%', better: null, format: pct },
  { key: 'reqrep.loadPct', scenario: 'reqrep', label: 'load generator CPU', unit: '%', better: null, format: pct },
  { key: 'reqrep.loadCpu', scenario: 'reqrep', label: 'load-generator (client) CPU per reply', unit: 'µs', better: 'lower', format: fixed(1), targets: [{ peer: 'ws', op: '<=', ratio: 1.1, issue: 10 }], chart: true },
  { key: 'reqrep.otherPct', scenario: 'reqrep', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'fanout.rate', scenario: 'fanout', label: 'delivered msgs/s', unit: '/s', better: 'higher', format: fixed(0), targets: [{ peer: 'ws', op: '>=', ratio: 0.8, issue: 5 }, { peer: 'socket.io', op: '>=', ratio: 2, issue: 5 }], chart: true },
  { key: 'fanout.cpu', scenario: 'fanout', label: 'server CPU per delivered msg', unit: 'µs', better: 'lower', format: fixed(2), targets: [{ peer: 'ws', op: '<=', ratio: 0.5, issue: 10 }], chart: true },
  { key: 'fanout.p50', scenario: 'fanout', label: 'send→receive p50 at saturation', unit: 'ms', better: 'lower', format: fixed(1) },
  { key: 'fanout.p99', scenario: 'fanout', label: 'send→receive p99 at saturation', unit: 'ms', better: 'lower', format: fixed(1), targets: [{ peer: 'ws', op: '<=', ratio: 1.3, issue: 10 }], chart: true },
  { key: 'fanout.srvPct', scenario: 'fanout', label: 'server CPU', unit: '%', better: null, format: pct },
  { key: 'fanout.loadPct', scenario: 'fanout', label: 'load generator CPU', unit: '%', better: null, format: pct },
  { key: 'fanout.perFrame', scenario: 'fanout', label: 'delivered msgs per received frame, at saturation', unit: '', better: null, format: fixed(1), only: FRAME_COUNTING },
  { key: 'fanout.loadFrameCpu', scenario: 'fanout', label: 'load-generator CPU per received frame, at saturation', unit: 'µs', better: null, format: fixed(1), only: FRAME_COUNTING },
  { key: 'fanout.otherPct', scenario: 'fanout', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'fanout.pacedP50', scenario: 'fanout', label: 'send→receive p50, paced', unit: 'ms', better: 'lower', format: fixed(1) },
  { key: 'fanout.pacedP99', scenario: 'fanout', label: 'send→receive p99, paced', unit: 'ms', better: 'lower', format: fixed(1) },
  { key: 'longpoll.rate', scenario: 'longpoll', label: 'delivered msgs/s', unit: '/s', better: 'higher', format: fixed(0), targets: [{ peer: 'socket.io', op: '>=', ratio: 1.5, issue: 5 }], chart: true },
  { key: 'longpoll.cpu', scenario: 'longpoll', label: 'server CPU per delivered msg', unit: 'µs', better: 'lower', format: fixed(2), targets: [{ peer: 'socket.io', op: '<=', ratio: 0.5, issue: 10 }], chart: true },
  { key: 'longpoll.p50', scenario: 'longpoll', label: 'send→receive p50 at saturation', unit: 'ms', better: 'lower', format: fixed(0), targets: [{ peer: 'socket.io', op: '<', ratio: 1, issue: 10 }], chart: true },
  { key: 'longpoll.p99', scenario: 'longpoll', label: 'send→receive p99 at saturation', unit: 'ms', better: 'lower', format: fixed(0) },
  { key: 'longpoll.srvPct', scenario: 'longpoll', label: 'server CPU', unit: '%', better: null, format: pct },
  { key: 'longpoll.loadPct', scenario: 'longpoll', label: 'load generator CPU', unit: '%', better: null, format: pct },
  { key: 'longpoll.otherPct', scenario: 'longpoll', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'connrate.rate', scenario: 'connrate', label: 'handshakes/s', unit: '/s', better: 'higher', format: fixed(0), chart: true },
  { key: 'connrate.cpu', scenario: 'connrate', label: 'server CPU per handshake', unit: 'µs', better: 'lower', format: fixed(0), chart: true },
  { key: 'connrate.srvPct', scenario: 'connrate', label: 'server CPU', unit: '%', better: null, format: pct },
  { key: 'connrate.loadPct', scenario: 'connrate', label: 'load generator CPU', unit: '%', better: null, format: pct },
  { key: 'connrate.otherPct', scenario: 'connrate', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'latency.p50', scenario: 'latency', label: 'push to an idle user, p50', unit: 'ms', better: 'lower', format: fixed(3), targets: [{ kind: 'diff', peer: 'ws', op: '<=', value: 1, issue: 10 }], chart: true },
  { key: 'latency.p99', scenario: 'latency', label: 'push to an idle user, p99', unit: 'ms', better: 'lower', format: fixed(3), chart: true },
  { key: 'latency.samples', scenario: 'latency', label: 'pushes measured', unit: '', better: null, format: fixed(0) },
  { key: 'latency.otherPct', scenario: 'latency', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'presence.cpu1', scenario: 'presence', label: 'server CPU per connect, batch ending at {1} users', unit: 'µs', better: 'lower', format: fixed(0) },
  { key: 'presence.cpu2', scenario: 'presence', label: 'server CPU per connect, batch ending at {2} users', unit: 'µs', better: 'lower', format: fixed(0) },
  { key: 'presence.cpu3', scenario: 'presence', label: 'server CPU per connect, batch ending at {3} users', unit: 'µs', better: 'lower', format: fixed(0), chart: true },
  { key: 'presence.growth', scenario: 'presence', label: 'CPU per connect growth, {1} → {3} users', unit: '×', better: 'lower', format: (v) => `${v.toFixed(2)}×`, targets: [{ kind: 'limit', op: '<=', value: 1.5, issue: 9 }] },
  { key: 'presence.otherPct', scenario: 'presence', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'bundle.gz', scenario: 'bundle', label: 'client min+gzip (full: @sente-rx/client)', unit: 'B', better: 'lower', format: bytes, targets: [{ peer: 'socket.io', op: '<', ratio: 1, issue: 5 }], chart: true, chartPeers: ['socket.io'] },
  { key: 'bundle.gzEs2015', scenario: 'bundle', label: 'client min+gzip, --conditions=es2015', unit: 'B', better: 'lower', format: bytes, targets: [{ peer: 'socket.io', op: '<', ratio: 1, issue: 5 }], chart: true, chartPeers: ['socket.io'] },
  { key: 'bundle.min', scenario: 'bundle', label: 'client minified', unit: 'B', better: 'lower', format: bytes },
  { key: 'bundle.minEs2015', scenario: 'bundle', label: 'client minified, --conditions=es2015', unit: 'B', better: 'lower', format: bytes },
  { key: 'bundle.partClient', scenario: 'bundle', label: '— of which @sente-rx/client (minified)', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.partCore', scenario: 'bundle', label: '— of which @sente-rx/core (minified)', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.partRxjs', scenario: 'bundle', label: '— of which rxjs (minified)', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.partOther', scenario: 'bundle', label: '— of which anything else, e.g. tslib (minified)', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  // Issue 10's target is on the WebSocket-only entry; the full client's figure stays above, unjudged by it.
  { key: 'bundle.wsGz', scenario: 'bundle', label: 'client min+gzip, WebSocket-only entry @sente-rx/client/ws', unit: 'B', better: 'lower', format: bytes, targets: [{ kind: 'limit', op: '<=', value: 9_000, issue: 10 }], only: ['sente-rx'] },
  { key: 'bundle.wsGzEs2015', scenario: 'bundle', label: 'client /ws min+gzip, --conditions=es2015', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.wsMin', scenario: 'bundle', label: 'client /ws minified', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.wsMinEs2015', scenario: 'bundle', label: 'client /ws minified, --conditions=es2015', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.wsPartClient', scenario: 'bundle', label: '— of which @sente-rx/client (minified)', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.wsPartCore', scenario: 'bundle', label: '— of which @sente-rx/core (minified)', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.wsPartRxjs', scenario: 'bundle', label: '— of which rxjs (minified)', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
  { key: 'bundle.wsPartOther', scenario: 'bundle', label: '— of which anything else, e.g. tslib (minified)', unit: 'B', better: 'lower', format: bytes, only: ['sente-rx'] },
];

export const SCENARIO_TITLES: Record<Scenario, string> = {
  idle: 'Idle memory',
  reqrep: 'Request/reply',
  fanout: 'Push fan-out (WebSocket)',
  longpoll: 'Long-polling push',
  connrate: 'Connection rate',
  latency: 'Latency at low load (one push at a time)',
  presence: 'Presence: connects of distinct users',
  bundle: 'Browser client bundle',
  packers: 'Packers',
};

/** The label with the configuration filled in (the presence levels). */
export function metricLabel(def: MetricDef, config: BenchConfig): string {
  const levels = config.presence?.levels;
  return def.label.replace(/\{([123])\}/g, (_, i: string) => (levels ? levels[Number(i) - 1]!.toLocaleString('en-US') : `level ${i}`));
}

export function metric(key: MetricKey): MetricDef {
  const m = METRICS.find((d) => d.key === key);
  if (!m) throw new Error(`unknown metric ${key}`);
  return m;
}
