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

/**
 * A class, not an object literal: a literal with a getter made of a closure (`current`) is a
 * dictionary-mode object in V8, and `current` is read on every send and every reply.
 */
class ConnectionManager implements Connection {
  stopped = false;
  private transport: Transport | null = null;
  private events: Subscription | null = null;
  private attempt = 0;
  private pendingRetry: Subscription | null = null;
  private stableTimer: Subscription | null = null;

  constructor(private readonly cfg: ConnectionConfig) {}

  get current(): Transport | null {
    return this.stopped ? null : this.transport;
  }

  private delayFor(n: number): number | 'stop' {
    const cfg = this.cfg;
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
  }

  connect(): void {
    this.cancelRetry();
    if (this.stopped) return;
    const t = this.cfg.make();
    this.transport = t;
    const onEvent = this.cfg.onEvent;
    this.events = t.events.subscribe((ev) => onEvent(t, ev));
    t.connect();
  }

  opened(): void {
    this.stableTimer?.unsubscribe();
    this.stableTimer = this.cfg.scheduler.schedule(() => {
      this.stableTimer = null;
      this.attempt = 0;
    }, this.cfg.stableMs);
  }

  drop(stop?: { code: number; reason: string }): void {
    this.stableTimer?.unsubscribe();
    this.stableTimer = null;
    const t = this.transport;
    this.transport = null;
    this.events?.unsubscribe();
    this.events = null;
    if (stop !== undefined) t?.stop(stop.code, stop.reason);
  }

  resetBackoff(): void {
    this.attempt = 0;
  }

  retry(): number | undefined {
    if (this.stopped) return undefined;
    const delay = this.delayFor(++this.attempt);
    if (delay === 'stop') return undefined;
    if (delay === 0) {
      this.connect();
      return undefined;
    }
    this.pendingRetry = this.cfg.scheduler.schedule(() => {
      this.pendingRetry = null;
      this.connect();
    }, delay);
    return this.cfg.scheduler.now() + delay;
  }

  cancelRetry(): void {
    this.pendingRetry?.unsubscribe();
    this.pendingRetry = null;
  }
}

export function createConnection(cfg: ConnectionConfig): Connection {
  return new ConnectionManager(cfg);
}
