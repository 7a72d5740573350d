/**
 * The connection manager: one transport at a time, connect, drop, and the reconnect backoff.
 * Each connection's event subscription is its generation: once dropped, nothing it reports
 * reaches the client.
 *
 * The backoff's attempt counter goes back to 1 only once a connection has proven stable: it
 * stayed open (handshaken) for `stableMs`, or on reconnect(). A handshake alone proves nothing:
 * a server that handshakes and then closes (load shedding, a handler that crashes, a proxy,
 * repeated `chsk/close`) would otherwise get an immediate retry every time, from every client
 * (issue 9 item 6). Phoenix and Socket.IO reset on open and have that storm.
 */
import { checkBackoffDelay, fullJitterBackoff, type Logger } from '@sente-rx/core';
import { type SchedulerLike, type Subscription } from 'rxjs';
import type { Transport, TransportEvent } from './types.js';

export interface ConnectionConfig {
  readonly scheduler: SchedulerLike;
  /** Delay before reconnect attempt n (1-based); checked by `checkBackoffDelay`. */
  readonly backoff: (attempt: number) => number;
  /** How long a connection must stay open before the backoff starts again at attempt 1. */
  readonly stableMs: number;
  readonly logger: Logger;
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
  /** The current connection handshook: once it stays up `stableMs`, the backoff resets. */
  opened(): void;
  /** Forgets the current transport (stopping it, unless it closed by itself); its events stop. */
  drop(stop?: { code: number; reason: string }): void;
  /** A reconnect was asked for: the next retry is attempt 1 again. */
  resetBackoff(): void;
  /**
   * Connects again after the backoff's delay. Returns when the attempt is due (scheduler clock),
   * or undefined when it connected at once (a zero delay), is stopped, or the backoff said
   * `Infinity` (no retry until reconnect()).
   */
  retry(): number | undefined;
  cancelRetry(): void;
}

const defaultBackoff = fullJitterBackoff();

export function createConnection(cfg: ConnectionConfig): Connection {
  let transport: Transport | null = null;
  let events: Subscription | null = null;
  let attempt = 0;
  let pendingRetry: Subscription | null = null;
  let stableTimer: Subscription | null = null;

  const delayFor = (n: number): number | 'stop' => {
    let value: unknown;
    try {
      value = cfg.backoff(n);
    } catch (err) {
      value = err;
    }
    const d = checkBackoffDelay(value);
    switch (d.kind) {
      case 'stop':
        cfg.logger.warn('sente-rx: backoffMs returned Infinity: not reconnecting until reconnect()', { attempt: n });
        return 'stop';
      case 'invalid':
        cfg.logger.error('sente-rx: backoffMs must return a number >= 0 (or Infinity to stop); using the default backoff', { attempt: n, value: d.value });
        return defaultBackoff(n);
      case 'delay':
        if (d.clamped === true) cfg.logger.warn('sente-rx: backoffMs returned more than 2^31 - 1 ms; waiting that long instead', { attempt: n });
        return d.ms;
    }
  };

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
    opened() {
      stableTimer?.unsubscribe();
      stableTimer = cfg.scheduler.schedule(() => {
        stableTimer = null;
        attempt = 0;
      }, cfg.stableMs);
    },
    drop(stop) {
      stableTimer?.unsubscribe();
      stableTimer = null;
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
      const delay = delayFor(++attempt);
      if (delay === 'stop') return undefined;
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
