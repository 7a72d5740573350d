// Every figure the benchmark reports, how to print it, which direction is better, and the
// targets from issue 5 it is reported against (never asserted).

import type { Peer } from './types.js';

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
  | 'fanout.rate'
  | 'fanout.cpu'
  | 'fanout.p50'
  | 'fanout.p99'
  | 'fanout.srvPct'
  | 'fanout.loadPct'
  | 'fanout.otherPct'
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
  | 'bundle.minEs2015';

export type Scenario = 'idle' | 'reqrep' | 'fanout' | 'longpoll' | 'connrate' | 'bundle';

export interface Target {
  /** The peer the ratio sente-rx ÷ peer is taken against. */
  readonly peer: Peer;
  readonly op: '<=' | '>=' | '<';
  readonly ratio: number;
}

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
}

const fixed = (digits: number) => (v: number) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const kb = (v: number) => `${(v / 1024).toFixed(2)} KB`;
const bytes = (v: number) => `${Math.round(v).toLocaleString('en-US')} B`;
const pct = (v: number) => `${Math.round(v)} %`;

export const METRICS: readonly MetricDef[] = [
  { key: 'idle.heap', scenario: 'idle', label: 'idle heap per connection', unit: 'KB', better: 'lower', format: kb, targets: [{ peer: 'ws', op: '<=', ratio: 1.2 }], chart: true },
  { key: 'idle.rss', scenario: 'idle', label: 'idle RSS per connection', unit: 'KB', better: 'lower', format: kb, chart: true },
  { key: 'reqrep.rate', scenario: 'reqrep', label: 'replies/s', unit: '/s', better: 'higher', format: fixed(0), targets: [{ peer: 'ws', op: '>=', ratio: 0.8 }, { peer: 'socket.io', op: '>=', ratio: 1.5 }], chart: true },
  { key: 'reqrep.cpu', scenario: 'reqrep', label: 'server CPU per reply', unit: 'µs', better: 'lower', format: fixed(1), chart: true },
  { key: 'reqrep.p50', scenario: 'reqrep', label: 'RTT p50', unit: 'ms', better: 'lower', format: fixed(2) },
  { key: 'reqrep.p99', scenario: 'reqrep', label: 'RTT p99', unit: 'ms', better: 'lower', format: fixed(2) },
  { key: 'reqrep.srvPct', scenario: 'reqrep', label: 'server CPU', unit: '%', better: null, format: pct },
  { key: 'reqrep.loadPct', scenario: 'reqrep', label: 'load generator CPU', unit: '%', better: null, format: pct },
  { key: 'reqrep.otherPct', scenario: 'reqrep', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'fanout.rate', scenario: 'fanout', label: 'delivered msgs/s', unit: '/s', better: 'higher', format: fixed(0), targets: [{ peer: 'ws', op: '>=', ratio: 0.8 }, { peer: 'socket.io', op: '>=', ratio: 2 }], chart: true },
  { key: 'fanout.cpu', scenario: 'fanout', label: 'server CPU per delivered msg', unit: 'µs', better: 'lower', format: fixed(2), chart: true },
  { key: 'fanout.p50', scenario: 'fanout', label: 'send→receive p50 at saturation', unit: 'ms', better: 'lower', format: fixed(1) },
  { key: 'fanout.p99', scenario: 'fanout', label: 'send→receive p99 at saturation', unit: 'ms', better: 'lower', format: fixed(1) },
  { key: 'fanout.srvPct', scenario: 'fanout', label: 'server CPU', unit: '%', better: null, format: pct },
  { key: 'fanout.loadPct', scenario: 'fanout', label: 'load generator CPU', unit: '%', better: null, format: pct },
  { key: 'fanout.otherPct', scenario: 'fanout', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'fanout.pacedP50', scenario: 'fanout', label: 'send→receive p50, paced', unit: 'ms', better: 'lower', format: fixed(1) },
  { key: 'fanout.pacedP99', scenario: 'fanout', label: 'send→receive p99, paced', unit: 'ms', better: 'lower', format: fixed(1) },
  { key: 'longpoll.rate', scenario: 'longpoll', label: 'delivered msgs/s', unit: '/s', better: 'higher', format: fixed(0), targets: [{ peer: 'socket.io', op: '>=', ratio: 1.5 }], chart: true },
  { key: 'longpoll.cpu', scenario: 'longpoll', label: 'server CPU per delivered msg', unit: 'µs', better: 'lower', format: fixed(2), chart: true },
  { key: 'longpoll.p50', scenario: 'longpoll', label: 'send→receive p50 at saturation', unit: 'ms', better: 'lower', format: fixed(0) },
  { key: 'longpoll.p99', scenario: 'longpoll', label: 'send→receive p99 at saturation', unit: 'ms', better: 'lower', format: fixed(0) },
  { key: 'longpoll.srvPct', scenario: 'longpoll', label: 'server CPU', unit: '%', better: null, format: pct },
  { key: 'longpoll.loadPct', scenario: 'longpoll', label: 'load generator CPU', unit: '%', better: null, format: pct },
  { key: 'longpoll.otherPct', scenario: 'longpoll', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'connrate.rate', scenario: 'connrate', label: 'handshakes/s', unit: '/s', better: 'higher', format: fixed(0), chart: true },
  { key: 'connrate.cpu', scenario: 'connrate', label: 'server CPU per handshake', unit: 'µs', better: 'lower', format: fixed(0), chart: true },
  { key: 'connrate.srvPct', scenario: 'connrate', label: 'server CPU', unit: '%', better: null, format: pct },
  { key: 'connrate.loadPct', scenario: 'connrate', label: 'load generator CPU', unit: '%', better: null, format: pct },
  { key: 'connrate.otherPct', scenario: 'connrate', label: 'other CPU on the machine (noise)', unit: '%', better: null, format: pct },
  { key: 'bundle.gz', scenario: 'bundle', label: 'client min+gzip', unit: 'B', better: 'lower', format: bytes, targets: [{ peer: 'socket.io', op: '<', ratio: 1 }], chart: true, chartPeers: ['socket.io'] },
  { key: 'bundle.gzEs2015', scenario: 'bundle', label: 'client min+gzip, --conditions=es2015', unit: 'B', better: 'lower', format: bytes, targets: [{ peer: 'socket.io', op: '<', ratio: 1 }], chart: true, chartPeers: ['socket.io'] },
  { key: 'bundle.min', scenario: 'bundle', label: 'client minified', unit: 'B', better: 'lower', format: bytes },
  { key: 'bundle.minEs2015', scenario: 'bundle', label: 'client minified, --conditions=es2015', unit: 'B', better: 'lower', format: bytes },
];

export const SCENARIO_TITLES: Record<Scenario, string> = {
  idle: 'Idle memory',
  reqrep: 'Request/reply',
  fanout: 'Push fan-out (WebSocket)',
  longpoll: 'Long-polling push',
  connrate: 'Connection rate',
  bundle: 'Browser client bundle',
};

export function metric(key: MetricKey): MetricDef {
  const m = METRICS.find((d) => d.key === key);
  if (!m) throw new Error(`unknown metric ${key}`);
  return m;
}
