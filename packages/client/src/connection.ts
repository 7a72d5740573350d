/**
 * The connection manager: one transport at a time, connect, drop, and the reconnect backoff.
 * Each connection's event subscription is its generation: once dropped, nothing it reports
 * reaches the client.
 */
import { type SchedulerLike, type Subscription } from 'rxjs';
import type { Transport, TransportEvent } from './types.js';

export interface ConnectionConfig {
  readonly scheduler: SchedulerLike;
  /** Delay before reconnect attempt n (1-based). */
  readonly backoff: (attempt: number) => number;
  /** A new transport for the next attempt. */
  readonly make: () => Transport;
  readonly onEvent: (t: Transport, ev: TransportEvent) => void;
}

export interface Connection {
  /** The transport in use; null when there is none or the client is stopped. */
  readonly current: Transport | null;
  /** disconnect(): no connecting until reconnect(). */
  stopped: boolean;
  /** Connects a new transport now, cancelling a scheduled retry. */
  connect(): void;
  /** Forgets the current transport (stopping it, unless it closed by itself); its events stop. */
  drop(stop?: { code: number; reason: string }): void;
  /** The channel opened, or a reconnect was asked for: the next retry is attempt 1 again. */
  resetBackoff(): void;
  /**
   * Connects again after the backoff's delay. Returns when the attempt is due (scheduler clock),
   * or undefined when it connected at once (a zero delay) or is stopped.
   */
  retry(): number | undefined;
  cancelRetry(): void;
}

export function createConnection(cfg: ConnectionConfig): Connection {
  let transport: Transport | null = null;
  let events: Subscription | null = null;
  let attempt = 0;
  let pendingRetry: Subscription | null = null;
  const c: Connection = {
    stopped: false,
    get current() {
      return c.stopped ? null : transport;
    },
    connect() {
      c.cancelRetry();
      if (c.stopped) return;
      const t = cfg.make();
      transport = t;
      events = t.events.subscribe((ev) => cfg.onEvent(t, ev));
      t.connect();
    },
    drop(stop) {
      const t = transport;
      transport = null;
      events?.unsubscribe();
      events = null;
      if (stop !== undefined) t?.stop(stop.code, stop.reason);
    },
    resetBackoff() {
      attempt = 0;
    },
    retry() {
      if (c.stopped) return undefined;
      const delay = Math.max(0, cfg.backoff(++attempt));
      if (delay === 0) {
        c.connect();
        return undefined;
      }
      pendingRetry = cfg.scheduler.schedule(() => {
        pendingRetry = null;
        c.connect();
      }, delay);
      return cfg.scheduler.now() + delay;
    },
    cancelRetry() {
      pendingRetry?.unsubscribe();
      pendingRetry = null;
    },
  };
  return c;
}
