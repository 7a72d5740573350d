// Shared vocabulary of the benchmark: implementations, the IPC messages between the orchestrator
// and its child processes, and the shape of the results.

/** The implementations measured side by side. */
export const IMPLS = ['sente-rx', 'ws', 'socket.io'] as const;

/**
 * sente-rx again, its load generators speaking the wire protocol on bare sockets instead of
 * running the RxJS client: shows the server when the client library would be the limit.
 */
export const SENTE_WIRE = 'sente-rx/wire';

/** sente-rx with `send(uid, ev, { flush: true })` for every push (the fan-out and latency scenarios). */
export const SENTE_FLUSH = 'sente-rx/flush';

/**
 * raw ws a second time, as its own implementation: the A/A control. Its ratio to raw ws is pure
 * noise, so readers see how far apart two identical runs land (fan-out and latency scenarios).
 */
export const WS_AA = 'ws/aa';

/** Every implementation and variant `--impl=` accepts. */
export const ALL_IMPLS = [...IMPLS, SENTE_WIRE, SENTE_FLUSH, WS_AA] as const;

export type Impl = (typeof ALL_IMPLS)[number];

/** One of the three libraries themselves (not a variant of how they are run). */
export type LibImpl = (typeof IMPLS)[number];

export function isLibImpl(impl: Impl): impl is LibImpl {
  return (IMPLS as readonly Impl[]).includes(impl);
}

/** The peers sente-rx is compared with. */
export type Peer = 'ws' | 'socket.io';

/** How a load generator talks to the server: the implementation's own client, or its wire protocol. */
export type ClientKind = 'lib' | 'wire';

/** The transport a load generator opens. */
export type Transport = 'ws' | 'polling';

/** The payload every server push carries: `t` is the send time in ms on the shared monotonic clock. */
export interface PushPayload {
  readonly t: number;
}

/** The payload of a request/reply: `i` is a per-client sequence number. */
export interface EchoPayload {
  readonly i: number;
}

/** A command from the orchestrator to a child; the child answers with a `ChildReply` of the same id. */
export interface Command {
  readonly id: number;
  readonly cmd: string;
  readonly args?: unknown;
}

export type ChildReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** Unsolicited messages from a child. */
export type ChildEvent =
  | { readonly type: 'ready'; readonly port?: number }
  | { readonly type: 'delivered'; readonly total: number };

/** What a server reports for `mark`: a sample of its counters and CPU at one instant. */
export interface ServerMark {
  readonly tMs: number;
  readonly cpuUs: number;
  readonly repliesSent: number;
  readonly pushDeliveries: number;
}

export interface MemorySample {
  readonly heapUsed: number;
  readonly rss: number;
}

/** What a load generator reports for `mark`. */
export interface LoaderMark {
  readonly tMs: number;
  readonly cpuUs: number;
  readonly replies: number;
  readonly delivered: number;
  /** WebSocket frames the clients received (0 where a loader does not count them: Socket.IO, long-polling). */
  readonly frames: number;
  readonly errors: number;
  /** Latency histogram counts since the previous mark (see histogram.ts). */
  readonly hist: readonly number[];
}

export interface ConnectResult {
  readonly opened: number;
  readonly failed: number;
  readonly elapsedMs: number;
  readonly firstError?: string;
}

export interface PushStartArgs {
  readonly users: number;
  readonly clientsPerUser: number;
  /** Most deliveries sent but not yet received by the load generators (closed loop). */
  readonly window: number;
  /** When set, pace at this many deliveries per second instead of filling the window. */
  readonly ratePerSec?: number;
  /** Hard bound on the loop, whatever the orchestrator does. */
  readonly maxMs: number;
}

export interface PushStopResult {
  readonly sends: number;
  readonly deliveries: number;
}
