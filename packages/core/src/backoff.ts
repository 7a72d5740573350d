/**
 * Reconnect delays: the first retry is immediate, later ones use capped "full jitter"
 * (a uniform draw in [0, min(maxMs, baseMs * 2^(attempt-1)))), which spreads a herd of clients
 * reconnecting after a server restart. Sente's `exp-backoff` has no cap (64-128 s by attempt 7).
 */
export interface BackoffOptions {
  /** @default 1_000 (1 s): the ceiling of attempt 2 is 2 s, of attempt 3 is 4 s, … */
  readonly baseMs?: number;
  /** @default 30_000 (30 s) */
  readonly maxMs?: number;
  /** A number in [0, 1); injectable for tests. @default Math.random */
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1_000; // 1 s
export const DEFAULT_BACKOFF_MAX_MS = 30_000; // 30 s

/** Delay before reconnect attempt `attempt` (1-based). */
export function backoffMs(attempt: number, opts: BackoffOptions = {}): number {
  if (attempt <= 1) return 0;
  const base = opts.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const max = opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  const random = opts.random ?? Math.random;
  // 2^(attempt-1) overflows to Infinity for huge attempts; min() keeps the cap.
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt - 1, 52));
  return Math.floor(random() * ceiling);
}

/** A `backoffMs(attempt)` function with fixed options, for the client's `backoffMs` option. */
export function fullJitterBackoff(opts: BackoffOptions = {}): (attempt: number) => number {
  return (attempt) => backoffMs(attempt, opts);
}
