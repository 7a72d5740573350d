/**
 * Recovery starts (PROTOCOL.md §11.5): the async step between a WebSocket open or an Ajax GET that
 * presented `pos` and the moment the client gets its handshake or its poll answer. The sessions
 * register the connection with no channel first (its live deliveries are held in its pending
 * queue), then call `start` / `poll`; the plan is computed and applied in ONE synchronous step
 * after the log read, so nothing delivered meanwhile can slip between the plan and the channel.
 */
import { type Position, type PositionQuery, Query, readPositionQuery } from '@sente-rx/core';
import type { Broker } from './broker.js';
import type { SharedContext } from './channel.js';
import { entryOf } from './outbox.js';
import { type PollPlan, planPoll, readStart, type RecoveryLog, runStart, type StartHooks } from './recovery.js';
import type { Conn } from './registry.js';
import type { RequestView } from './types.js';

const resolved = (): Promise<void> => Promise.resolve();

export class RecoveryStarts {
  private readonly log: RecoveryLog | undefined;

  constructor(
    private readonly ctx: SharedContext,
    broker: Broker,
    enabled: boolean,
  ) {
    const { history, head } = broker;
    this.log =
      enabled && history !== undefined && head !== undefined
        ? {
            history: (uid, clientId, from, limit) => history.call(broker, uid, clientId, from, limit),
            head: (uid) => head.call(broker, uid),
            settled: () => (broker.settled ?? resolved).call(broker),
          }
        : undefined;
  }

  /** Whether this server runs recovery (option on and a broker with a log). */
  get on(): boolean {
    return this.log !== undefined;
  }

  /** What the request's `pos` says; `absent` when recovery is off, whatever the client sent. */
  query(view: RequestView): PositionQuery {
    return this.log === undefined ? { kind: 'absent' } : readPositionQuery(view.query.get(Query.POS));
  }

  /**
   * A connect (WebSocket open, Ajax handshake) of a client that presented `q` (see `runStart`):
   * `register` must register `conn` with no channel; after the log read, if `current()` still
   * holds, `apply` runs at once with the plan, `conn.pending` left as it was (the caller empties it
   * when it sends the plan's entries). `failed` when the log is unreachable or a step threw.
   */
  start(conn: Conn, q: Exclude<PositionQuery, { kind: 'absent' }>, hooks: Omit<StartHooks, 'pending' | 'failed'> & { failed(): void }): void {
    const who = { uid: conn.uid, clientId: conn.clientId };
    const failed = (err: unknown): void => {
      this.ctx.logger.warn('sente-rx: a recovery start failed (log unreachable?); the client will retry', { ...who, err });
      try {
        hooks.failed();
      } catch (e) {
        this.ctx.logger.error('sente-rx: a recovery start failed', { ...who, err: e });
      }
    };
    runStart(this.requireLog(), conn.uid, conn.clientId, q, {
      register: hooks.register,
      current: hooks.current,
      pending: () => (conn.pending ?? []).map(entryOf),
      apply: (plan) => {
        try {
          hooks.apply(plan);
        } catch (err) {
          failed(err);
        }
      },
      failed,
    });
  }

  /** An Ajax poll that presented `from`: answered from the log merged with what this node holds. */
  poll(conn: Conn, from: Position, current: () => boolean, apply: (plan: PollPlan) => void, failed: () => void): void {
    const q = { kind: 'position', position: from } as const;
    this.run(conn, readStart.bind(null, this.requireLog(), conn.uid, conn.clientId, q), (read) => planPoll(from, read, (conn.pending ?? []).map(entryOf)), current, apply, failed);
  }

  private requireLog(): RecoveryLog {
    if (this.log === undefined) throw new Error('recovery is off');
    return this.log;
  }

  private run<R, P>(conn: Conn, read: () => Promise<R>, plan: (r: R) => P, current: () => boolean, apply: (p: P) => void, failed: () => void): void {
    const who = { uid: conn.uid, clientId: conn.clientId };
    const safely = (f: () => void): void => {
      try {
        f();
      } catch (err) {
        this.ctx.logger.error('sente-rx: a recovery start failed', { ...who, err });
      }
    };
    read().then(
      (r) => {
        if (!current()) return;
        let p: P;
        try {
          p = plan(r);
        } catch (err) {
          this.ctx.logger.error('sente-rx: a recovery start failed', { ...who, err });
          safely(failed);
          return;
        }
        safely(() => apply(p));
      },
      (err: unknown) => {
        this.ctx.logger.warn('sente-rx: the recovery log could not be read; the client will retry', { ...who, err });
        if (current()) safely(failed);
      },
    );
  }
}
