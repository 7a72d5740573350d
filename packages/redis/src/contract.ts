/**
 * Broker seam v2 (`/work/wt/BROKER-V2.md`): what the server core talks to. Every send (to a uid, to
 * one client, to everyone), every server→client request and its reply, and every presence change
 * goes through a broker, so one implementation can live in one process and another can span a
 * cluster. Refinements against the draft are marked "v2 refinement" and listed in the package README.
 */
import type { Uid } from '@sente-rx/core';
import {
  type Broker as ServerBroker,
  type BrokerMessage as ServerBrokerMessage,
  type BrokerNode,
  type BrokerOutcome,
  type BrokerReply,
  type BrokerRequest,
  type ConnectedUids,
  type HistoryPage,
  type LoggedEvent,
  type Position,
  DEFAULT_RECOVERY as SERVER_DEFAULT_RECOVERY,
  type SendTarget,
} from '@sente-rx/server';

// The seam itself is the server's (`@sente-rx/server` owns it): a broker of this package IS a
// server broker, passed as the server's `broker` option. Re-exported here under the same names.
export type { BrokerNode, BrokerOutcome, BrokerReply, BrokerRequest, ConnectedUids, SendTarget };

// Positions, logged events and history pages are the server's too (PROTOCOL.md §11): the server
// reads them from this package's brokers for recovery.
export type { HistoryPage, LoggedEvent, Position };

/**
 * What the brokers of this package hand a node's `deliver`: the server's message (target, events,
 * flush) plus, parallel to `events`, each event's place in the log, for recovery (issue 13).
 */
export interface BrokerMessage extends ServerBrokerMessage {
  /** `logged[i]` is `events[i]` with its stream and seq (seq 0 when recovery is off). */
  readonly logged: readonly LoggedEvent[];
}

export interface BrokerStats {
  /** publish() calls accepted (each is one message, whatever its number of events). */
  readonly published: number;
  /** deliver() calls made to this node. */
  readonly delivered: number;
  /** Messages this node failed to publish (Redis down, unserializable events); each is also logged. */
  readonly dropped: number;
  /** Times the broker came back after losing Redis (0 for the in-memory broker). */
  readonly reconnects: number;
  /** Events appended to the log by this node's publishes. */
  readonly logged: number;
  /**
   * Messages that reached this node from the bus (uid, broadcast and node channels), whether or not
   * they were delivered: the measure of interest routing. (v2 refinement.)
   */
  readonly received: number;
}

/**
 * The server's broker seam plus the log (history/head, when it is on), `settled()` and `stats()`. Every member of
 * the server's `Broker` keeps the server's meaning; the extras are documented below.
 */
export interface Broker extends ServerBroker {
  /**
   * Routes to the nodes holding req.uid. When no node holds it, the asking node gets a
   * `chsk/closed` reply at once instead of waiting for its timeout. (v2 refinement.)
   */
  request(req: BrokerRequest): void;
  /**
   * Events after `from` for this client (its uid stream, filtered to events for all its clients or
   * for clientId, merged with the broadcast stream in seq order per stream), up to `limit`.
   * `complete: false` when the log cannot fill the gap (trimmed, expired, other epoch, or a
   * malformed `from`, which never throws). A page shorter than `limit` reached the head. Rejects
   * only when the log's store is unreachable (Redis down). Absent when the log is off
   * (`recovery: false`), so a server given this broker runs without recovery.
   */
  history?(uid: Uid, clientId: string, from: Position, limit: number): Promise<HistoryPage>;
  /** The current head position for a uid (what a client that has seen everything holds). Absent when the log is off. */
  head?(uid: Uid): Promise<Position>;
  /**
   * Resolves once every publish, localPresence and request issued before the call has taken effect
   * (for Redis: subscriptions acknowledged, presence written, messages sent), so a server can
   * subscribe, await this, then read history() without a gap. Never rejects. While the store is
   * unreachable it resolves at once (a read after it then rejects). (v2 refinement.)
   */
  settled(): Promise<void>;
  /** This node's counters (observability: published, delivered, dropped, reconnects, …). */
  stats(): BrokerStats;
}

export interface RecoveryOptions {
  /** Events kept per stream (each uid's, and the broadcast one). @default 1_000 */
  readonly maxEvents?: number;
  /** Events older than this are never replayed. @default 120_000 (2 min) */
  readonly maxAgeMs?: number;
  /**
   * A stream's sequence counter and generation are forgotten after this long without a publish,
   * head() or history() for it; a client holding a position of it then gets `complete: false`.
   * Much longer than maxAgeMs so that a quiet user who saw everything still resumes.
   * (v2 refinement.) @default 86_400_000 (24 h)
   */
  readonly metaTtlMs?: number;
}

/** Resolved recovery bounds. */
export interface RecoveryBounds {
  readonly maxEvents: number;
  readonly maxAgeMs: number;
  readonly metaTtlMs: number;
}

/** The server's defaults (1,000 events, 2 min per stream), plus the metadata's 24 h. */
export const DEFAULT_RECOVERY: RecoveryBounds = Object.freeze({
  maxEvents: SERVER_DEFAULT_RECOVERY.maxEvents,
  maxAgeMs: SERVER_DEFAULT_RECOVERY.maxAgeMs,
  metaTtlMs: 86_400_000, // 24 h
});

/** Validates recovery options (TypeError on nonsense); `false` turns the log off. */
export function resolveRecovery(recovery: RecoveryOptions | false | undefined): RecoveryBounds | undefined {
  if (recovery === false) return undefined;
  const r = { ...DEFAULT_RECOVERY, ...stripUndefined(recovery ?? {}) };
  for (const k of ['maxEvents', 'maxAgeMs', 'metaTtlMs'] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 1) throw new TypeError(`recovery.${k} must be a positive integer, got ${String(r[k])}`);
  }
  if (r.metaTtlMs < r.maxAgeMs) throw new TypeError(`recovery.metaTtlMs (${r.metaTtlMs}) must be at least recovery.maxAgeMs (${r.maxAgeMs})`);
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export const NO_HOLDER_MESSAGE = 'no node holds a client of this uid';
