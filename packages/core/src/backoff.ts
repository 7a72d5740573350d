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

/** The longest delay a timer can hold: Node (and browsers) run a longer one after 1 ms. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647; // 2^31 − 1 ms, about 24.8 days

/** What a `backoffMs(attempt)` result means (see {@link checkBackoffDelay}). */
export type BackoffDelay =
  | { readonly kind: 'delay'; readonly ms: number; readonly clamped?: true }
  | { readonly kind: 'stop' }
  | { readonly kind: 'invalid'; readonly value: unknown };

/**
 * Checks a `backoffMs(attempt)` result before it reaches a timer:
 * - a finite number in [0, 2^31 − 1]: that delay (fractions are kept; the scheduler rounds);
 * - a finite number above 2^31 − 1: clamped to 2^31 − 1 (a timer cannot wait longer);
 * - `Infinity`: stop reconnecting until `reconnect()`;
 * - anything else (NaN, a negative number, −Infinity, not a number): invalid; the client logs an
 *   error and uses the default backoff for that attempt.
 */
export function checkBackoffDelay(value: unknown): BackoffDelay {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) return { kind: 'invalid', value };
  if (value === Infinity) return { kind: 'stop' };
  if (value > MAX_TIMER_DELAY_MS) return { kind: 'delay', ms: MAX_TIMER_DELAY_MS, clamped: true };
  return { kind: 'delay', ms: value };
}
