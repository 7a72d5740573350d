/**
 * The WebSocket keep-alive (Sente §5): every `intervalMs` the client checks whether the channel
 * carried anything since the last tick; after a silent `intervalMs` it pings and waits for the
 * pong. One ping at a time: a tick while a ping is out does nothing. The client keeps a flag per
 * message rather than a timestamp (a clock read per message costs more than the rest of a push's
 * bookkeeping), so traffic at the very instant of a tick counts for the next one.
 */
import { PONG } from '@sente-rx/core';
import { Observable, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';

export interface KeepAliveConfig {
  /** Tick period and the silence that triggers a ping (the client passes `wsKeepAliveMs / 2`). */
  readonly intervalMs: number;
  /** Whether the channel carried traffic since the previous call (each call starts a new period). */
  readonly heard: () => boolean;
  /** Sends a ping and emits its reply (or errors, e.g. `chsk/timeout`). */
  readonly ping: () => Observable<unknown>;
  readonly scheduler: SchedulerLike;
}

/**
 * Emits once and completes when the path looks dead: a ping got no pong (a timeout, an error or
 * another answer). Unsubscribe to stop it; a ping in flight is dropped with it.
 */
export function keepAlive(cfg: KeepAliveConfig): Observable<void> {
  return new Observable<void>((subscriber) => {
    let inFlight: Subscription | null = null;
    let pinging = false;
    const dead = (): void => {
      subscriber.next();
      subscriber.complete();
    };
    const tick = (): void => {
      if (pinging || cfg.heard()) return;
      pinging = true;
      inFlight = cfg.ping().subscribe({
        next: (v) => {
          if (v !== PONG) dead();
        },
        complete: () => (pinging = false),
        error: dead,
      });
    };
    // One action that reschedules itself after each tick: what `interval` does, without the operator.
    const ticks = cfg.scheduler.schedule(function (this: SchedulerAction<undefined>) {
      tick();
      this.schedule(undefined, cfg.intervalMs);
    }, cfg.intervalMs);
    return () => {
      ticks.unsubscribe();
      inFlight?.unsubscribe();
    };
  });
}
