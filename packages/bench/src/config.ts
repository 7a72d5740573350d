// The three sizes of the benchmark: `full` (the numbers in RESULTS.md), `quick` (under a minute)
// and `smoke` (the vitest harness test: proves the harness works, says nothing about speed).


export interface IdleConfig {
  readonly conns: number;
  /** Connections opened before the baseline and kept, so lazy first-connection costs are not counted. */
  readonly warm: number;
  readonly settleMs: number;
}

export interface ReqRepConfig {
  readonly clients: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface PushConfig {
  readonly users: number;
  readonly clientsPerUser: number;
  /** Most deliveries in flight (sent, not yet received) in the saturation phase. */
  readonly window: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** A second, paced phase measuring latency below saturation (deliveries/s); 0 skips it. */
  readonly pacedRate: number;
  readonly pacedMs: number;
}

export interface ConnRateConfig {
  readonly clients: number;
}

export interface LatencyConfig {
  /** Users, one client each; pushes go round-robin, one at a time (the next once the last arrived). */
  readonly users: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface PresenceConfig {
  /** Distinct users at which server CPU per connect is reported (ascending; each a multiple of `batch`). */
  readonly levels: readonly [number, number, number];
  /** New users per measured batch; earlier users stay connected. */
  readonly batch: number;
  /** Load-generator processes (each holds its share of the sockets under its own fd limit). */
  readonly loaders: number;
  /** Cap on the whole run of one implementation. */
  readonly maxMs: number;
}

export interface PackersConfig {
  /** Minimum measuring time per packer and payload (after warm-up). */
  readonly minMs: number;
  /** Bound on iterations per packer and payload. */
  readonly maxIterations: number;
  /** Echo requests per packer for the server CPU per reply over WebSocket (0: not measured). */
  readonly serverReplies?: number;
}

export interface BenchConfig {
  readonly name: 'full' | 'quick' | 'smoke';
  readonly runs: number;
  /** Load-generator processes per scenario (all pinned to the load core). */
  readonly loaders: number;
  /** Also run sente-rx with wire-protocol load generators (not for idle memory and the bundle). */
  readonly senteWire: boolean;
  /** Also run sente-rx with `{ flush: true }` and raw ws a second time (A/A) where they are measured. */
  readonly variants: boolean;
  /** How often a run disturbed by other processes (> `disturbedPct` of a core) is repeated. */
  readonly retries: number;
  readonly disturbedPct: number;
  /** Before each run, wait up to this long for other processes to use less than `disturbedPct` of a core. */
  readonly quietWaitMs: number;
  readonly idle: IdleConfig | null;
  readonly reqrep: ReqRepConfig | null;
  readonly fanout: PushConfig | null;
  readonly longpoll: PushConfig | null;
  readonly connrate: ConnRateConfig | null;
  readonly latency: LatencyConfig | null;
  readonly presence: PresenceConfig | null;
  readonly packers: PackersConfig | null;
  readonly bundle: boolean;
}

export const FULL: BenchConfig = {
  name: 'full',
  runs: 3,
  loaders: 1,
  senteWire: true,
  variants: true,
  retries: 2,
  disturbedPct: 25,
  quietWaitMs: 30_000, // 30 s
  idle: { conns: 10_000, warm: 20, settleMs: 2_000 },
  reqrep: { clients: 100, warmupMs: 1_000, durationMs: 10_000 },
  fanout: { users: 100, clientsPerUser: 10, window: 5_000, warmupMs: 1_000, durationMs: 5_000, pacedRate: 20_000, pacedMs: 3_000 },
  longpoll: { users: 20, clientsPerUser: 10, window: 10_000, warmupMs: 1_000, durationMs: 5_000, pacedRate: 0, pacedMs: 0 },
  connrate: { clients: 2_000 },
  latency: { users: 100, warmupMs: 500, durationMs: 5_000 },
  presence: { levels: [1_000, 5_000, 20_000], batch: 1_000, loaders: 4, maxMs: 240_000 },
  packers: { minMs: 500, maxIterations: 200_000, serverReplies: 20_000 },
  bundle: true,
};

export const QUICK: BenchConfig = {
  name: 'quick',
  runs: 1,
  loaders: 1,
  senteWire: false,
  variants: true,
  retries: 0,
  disturbedPct: 25,
  quietWaitMs: 0,
  idle: { conns: 500, warm: 10, settleMs: 300 },
  reqrep: { clients: 100, warmupMs: 300, durationMs: 1_000 },
  fanout: { users: 100, clientsPerUser: 10, window: 5_000, warmupMs: 300, durationMs: 1_000, pacedRate: 20_000, pacedMs: 500 },
  longpoll: { users: 20, clientsPerUser: 10, window: 10_000, warmupMs: 300, durationMs: 1_000, pacedRate: 0, pacedMs: 0 },
  connrate: { clients: 300 },
  latency: { users: 100, warmupMs: 300, durationMs: 1_500 },
  presence: { levels: [1_000, 2_000, 5_000], batch: 1_000, loaders: 2, maxMs: 60_000 },
  packers: { minMs: 100, maxIterations: 20_000, serverReplies: 3_000 },
  bundle: true,
};

export const SMOKE: BenchConfig = {
  name: 'smoke',
  runs: 1,
  loaders: 1,
  senteWire: true,
  variants: true,
  retries: 0,
  disturbedPct: 25,
  quietWaitMs: 0,
  idle: { conns: 300, warm: 2, settleMs: 100 },
  reqrep: { clients: 10, warmupMs: 100, durationMs: 700 },
  fanout: { users: 5, clientsPerUser: 4, window: 400, warmupMs: 100, durationMs: 700, pacedRate: 2_000, pacedMs: 300 },
  longpoll: { users: 4, clientsPerUser: 5, window: 400, warmupMs: 100, durationMs: 700, pacedRate: 0, pacedMs: 0 },
  connrate: { clients: 100 },
  latency: { users: 5, warmupMs: 100, durationMs: 400 },
  presence: { levels: [40, 80, 160], batch: 40, loaders: 2, maxMs: 30_000 },
  packers: { minMs: 10, maxIterations: 200 },
  bundle: true,
};
