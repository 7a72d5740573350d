/**
 * Rate-limited warnings: a failure that repeats on every reconnect (a wrong path answered 404, a
 * WebSocket refused on every upgrade) is logged the first time and then at most once per window
 * per kind, with how many were left out, so it is visible without flooding the console.
 */
import type { Logger } from '@sente-rx/core';
import type { SchedulerLike } from 'rxjs';

export const LOG_WINDOW_MS = 60_000; // 1 min

export function rateLimitedWarn(logger: Logger, scheduler: SchedulerLike, windowMs = LOG_WINDOW_MS): (key: string, msg: string, data: Record<string, unknown>) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, msg, data) => {
    const now = scheduler.now();
    const seen = last.get(key);
    if (seen !== undefined && now - seen.at < windowMs) {
      seen.suppressed++;
      return;
    }
    if (last.size > 64) last.clear(); // keys come from a small set; bound it anyway
    last.set(key, { at: now, suppressed: 0 });
    logger.warn(msg, seen === undefined || seen.suppressed === 0 ? data : { ...data, repeats: seen.suppressed });
  };
}
