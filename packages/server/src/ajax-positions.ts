/**
 * Ajax positions — PROVISIONAL (issue 12's minimum; issue 13's recovery is to replace it): with a
 * broker that keeps a log (`history` and `head`, as `@sente-rx/redis` brokers do), every Ajax poll
 * is answered FROM THE LOG, so one client's polls may land on any node of a cluster, round-robin,
 * and it still receives each event once and in order (PROTOCOL.md "Ajax positions").
 *
 * - Handshake: its 5th element is the uid's head position, where the client starts.
 * - Each poll carries `chsk-pos`, the position after the last event the client received.
 * - The node answers with the events after it (`history`), ending with `["chsk/pos", position]`;
 *   with none, it holds the poll until this node is told of a push for the uid (the outbox hands
 *   the held poll a batch: that only wakes it), then reads the log again.
 * - A poll with a position is never a handshake, even on a node that has not seen the client.
 * - The node keeps no pending queue for such a client (the log is the queue).
 *
 * Without a log broker (the default in-memory one) nothing here runs.
 */
import { type ChskEvent, ContentType, Envelopes, type Logger, type Packed, type Packer, packEnvelope, ReservedId, type Uid } from '@sente-rx/core';
import { type SchedulerLike, type Subscription, timer } from 'rxjs';
import type { ServerChan } from './channel.js';
import type { AjaxResponder } from './types.js';

/** A log position (the shape of `@sente-rx/redis`'s `Position`). */
export interface LogPosition {
  readonly epoch: string;
  readonly u: number;
  readonly g: number;
}

/** What this file needs of a broker with a log. */
export interface BrokerLog {
  /** True when the log is on (a broker with recovery off has history() but it is never complete). */
  readonly keepsLog: boolean;
  history(uid: Uid, clientId: string, from: LogPosition, limit: number): Promise<{ readonly events: readonly { readonly event: ChskEvent }[]; readonly position: LogPosition }>;
  head(uid: Uid): Promise<LogPosition>;
}

/** The broker's log, when it has one. */
export function brokerLog(broker: object): BrokerLog | undefined {
  const b = broker as Partial<BrokerLog>;
  return b.keepsLog === true && typeof b.history === 'function' && typeof b.head === 'function' ? (b as BrokerLog) : undefined;
}

/** `u.g.epoch`: digits, digits, then the opaque epoch. */
export const formatPosition = (p: LogPosition): string => `${p.u}.${p.g}.${p.epoch}`;

const POSITION = /^(\d{1,15})\.(\d{1,15})\.([\w.:-]{1,100})$/;
export function parsePosition(s: string | null): LogPosition | undefined {
  const m = s === null ? null : POSITION.exec(s);
  if (m === null) return undefined;
  return { u: Number(m[1]), g: Number(m[2]), epoch: m[3] ?? '' };
}

/** Events per answer: the client asks again at once for the rest. */
const PAGE = 500;

export interface LogPollHost {
  readonly scheduler: SchedulerLike;
  readonly packer: Packer;
  readonly logger: Logger;
  readonly contentType: string;
  readonly packedLpTimeout: Packed;
  readonly log: BrokerLog;
  ended(poll: LogPoll): void;
}

/** A held poll answered from the log. `send` (the outbox's push) only wakes it. */
export class LogPoll implements ServerChan {
  private readonly timer: Subscription;
  private reading = false;
  private again = false;

  constructor(
    private readonly host: LogPollHost,
    private readonly uid: Uid,
    private readonly clientId: string,
    private from: LogPosition,
    private readonly res: AjaxResponder,
    lpTimeoutMs: number,
  ) {
    this.timer = timer(lpTimeoutMs, host.scheduler).subscribe(() => this.close());
    res.onAbort(() => this.end());
    this.read();
  }

  get open(): boolean {
    return !this.res.done;
  }

  send(_packed: Packed): boolean {
    if (this.res.done) return false;
    this.read();
    return true;
  }

  close(): void {
    if (!this.res.done) this.res.respond(200, this.host.packedLpTimeout, this.host.contentType);
    this.end();
  }

  private read(): void {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    this.again = false;
    this.host.log.history(this.uid, this.clientId, this.from, PAGE).then(
      (page) => {
        this.reading = false;
        if (this.res.done) return;
        if (page.events.length > 0) return this.answer(page.events.map((e) => e.event), page.position);
        this.from = page.position;
        if (this.again) this.read();
      },
      (err: unknown) => {
        this.reading = false;
        if (this.res.done) return;
        this.host.logger.warn('sente-rx: the broker log could not be read for an Ajax poll; answering 503', { uid: this.uid, clientId: this.clientId, err });
        this.res.respond(503, 'Service unavailable: the event log cannot be read', ContentType.PLAIN);
        this.end();
      },
    );
  }

  private answer(events: readonly ChskEvent[], position: LogPosition): void {
    let packed: Packed;
    try {
      packed = packEnvelope(this.host.packer, Envelopes.batch([...events, [ReservedId.POSITION, formatPosition(position)]]));
    } catch (err) {
      // An event the packer cannot carry was refused at send() by the sending node's packer; log and skip the page.
      this.host.logger.error('sente-rx: events from the log cannot be packed; skipped', { uid: this.uid, err });
      packed = packEnvelope(this.host.packer, Envelopes.batch([[ReservedId.POSITION, formatPosition(position)]]));
    }
    this.res.respond(200, packed, this.host.contentType);
    this.end();
  }

  private end(): void {
    this.timer.unsubscribe();
    this.host.ended(this);
  }
}
