/**
 * Warnings about the host's set-up (an upgrade that reached the Ajax handler, an upgrade for a
 * path nothing serves) repeat with every request until the set-up is fixed. Each kind is logged
 * at most once per window (on the server's scheduler clock); the next one after the window says
 * how many were left out meanwhile.
 */
import type { Logger } from '@sente-rx/core';
import type { SchedulerLike } from 'rxjs';

/** How often one kind of set-up warning is logged at most. */
export const SETUP_WARNING_WINDOW_MS = 60_000; // 1 min

export class RateLimitedLog {
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly scheduler: SchedulerLike,
    private readonly windowMs: number = SETUP_WARNING_WINDOW_MS,
  ) {}

  /** Logs `msg` at warn level unless `kind` was logged less than a window ago. */
  warn(kind: string, msg: string, data: Record<string, unknown>): void {
    const now = this.scheduler.now();
    const seen = this.#last.get(kind);
    if (seen !== undefined && now - seen.at < this.windowMs) {
      seen.suppressed++;
      return;
    }
    this.#last.set(kind, { at: now, suppressed: 0 });
    const more = seen === undefined || seen.suppressed === 0 ? {} : { suppressedSinceLast: seen.suppressed };
    this.logger.warn(msg, { ...data, ...more, note: `logged at most once per ${this.windowMs / 1_000} s` });
  }
}
