/**
 * Pushes: per-uid send buffers and their batching windows (`sendBufMs`), the pending queues of
 * clients without a channel, and packing batches.
 */
import { type ChskEvent, CloseCode, Envelopes, type Packed, packEnvelope, ProtocolCloseReason, ReservedId, type Uid } from '@sente-rx/core';
import { type Subscription, timer } from 'rxjs';
import type { BrokerMessage } from './broker.js';
import type { SharedContext } from './channel.js';
import { type LogEntry, positionedBatch } from './recovery.js';
import { CONN_TYPES, type Conn, type ConnType, type Registry } from './registry.js';

// ---- addressing (targets) and positions: routed here, before the per-uid buffers ---------------

/**
 * A buffered event with more than the event: its place in the recovery log (`seq` 0: none), and,
 * for a `{ uid, clientId }` send or a request, the one client it is for (filtered at flush).
 * Plain events to a uid without a log stay bare `ChskEvent`s (no allocation per event).
 */
export class Entry implements LogEntry {
  constructor(
    readonly event: ChskEvent,
    readonly clientId: string | undefined,
    readonly stream: 'u' | 'g' = 'u',
    readonly seq: number = 0,
  ) {}
}

export type Buffered = ChskEvent | Entry;

const eventOf = (b: Buffered): ChskEvent => (b instanceof Entry ? b.event : b);
/** A buffered item as a log entry (a bare event is not in the log). */
export const entryOf = (b: Buffered): LogEntry => (b instanceof Entry ? b : { event: b, stream: 'u', seq: 0 });

/** The items of `buf` that `clientId` gets. */
function eventsFor(buf: readonly Buffered[], clientId: string): readonly Buffered[] {
  const out: Buffered[] = [];
  for (const b of buf) if (!(b instanceof Entry) || b.clientId === undefined || b.clientId === clientId) out.push(b);
  return out;
}

export class Outbox {
  private readonly bufs = { ws: new Map<Uid, Buffered[]>(), ajax: new Map<Uid, Buffered[]>() };
  /** Uids whose buffer holds a client-targeted event. */
  private readonly targeted = { ws: new Set<Uid>(), ajax: new Set<Uid>() };
  private readonly timers = { ws: new Map<Uid, Subscription>(), ajax: new Map<Uid, Subscription>() };

  constructor(
    private readonly ctx: SharedContext,
    private readonly registry: Registry,
  ) {}

  /** A publish from the broker: routed by target to the per-uid buffers of this node's clients. */
  deliver(msg: BrokerMessage): void {
    if (this.ctx.closing) return;
    const { target, events, flush, logged } = msg;
    const clientId = target.kind === 'client' ? target.clientId : undefined;
    if (clientId === undefined && events.length === 1 && events[0]?.[0] === ReservedId.CLOSE && target.kind === 'uid') {
      this.closeUid(target.uid, flush);
      return;
    }
    const items: readonly Buffered[] =
      clientId === undefined && logged === undefined
        ? events
        : events.map((e, i) => {
            const l = logged?.[i];
            return new Entry(e, clientId, l?.stream, l?.seq);
          });
    if (target.kind === 'all') {
      for (const type of CONN_TYPES) for (const uid of [...this.registry.uids(type)]) this.deliverTo(type, uid, items, flush, undefined);
      return;
    }
    for (const type of CONN_TYPES) this.deliverTo(type, target.uid, items, flush, clientId);
  }

  /** Buffers `items` for the clients of `uid` on `type` (only `clientId`, when given); the per-uid batching is unchanged. */
  private deliverTo(type: ConnType, uid: Uid, items: readonly Buffered[], flush: boolean, clientId: string | undefined): void {
    const clients = this.registry.clients(type, uid);
    if (clients === undefined || (clientId !== undefined && !clients.has(clientId))) return;
    let buf = this.bufs[type].get(uid);
    if (buf === undefined) this.bufs[type].set(uid, (buf = []));
    for (const e of items) buf.push(e);
    if (clientId !== undefined) this.targeted[type].add(uid);
    const windowMs = this.ctx.options.sendBufMs[type];
    if (flush || windowMs === 0) this.flush(type, uid);
    else if (!this.timers[type].has(uid)) {
      this.timers[type].set(uid, timer(windowMs, this.ctx.scheduler).subscribe(() => this.flush(type, uid)));
    }
  }

  /** Sente's undocumented `[:chsk/close]`: close every channel of `uid`; its clients reconnect. */
  private closeUid(uid: Uid, flush: boolean): void {
    if (flush) for (const type of CONN_TYPES) this.flush(type, uid);
    for (const type of CONN_TYPES) {
      for (const c of this.registry.clients(type, uid)?.values() ?? []) {
        if (c.ch?.open === true) c.ch.close(CloseCode.SERVER_CLOSE_UID, ProtocolCloseReason.CLOSE_UID);
      }
    }
  }

  private flush(type: ConnType, uid: Uid): void {
    this.timers[type].get(uid)?.unsubscribe();
    this.timers[type].delete(uid);
    const buf = this.bufs[type].get(uid);
    this.bufs[type].delete(uid);
    const targeted = this.targeted[type].delete(uid);
    const clients = this.registry.clients(type, uid);
    if (buf === undefined || buf.length === 0) return;
    if (clients === undefined) {
      this.ctx.logger.debug('sente-rx: dropped events for a uid whose clients left during the batching window', { uid, type, dropped: buf.length });
      return;
    }
    let events: readonly Buffered[] = buf;
    // Clients with nothing pending share one packed batch (one for plain clients, one per epoch for recovery clients).
    let shared: Packed | undefined;
    let sharedPacked = false;
    let sharedPos: Packed | undefined;
    let sharedEpoch: string | null = null;
    for (const conn of clients.values()) {
      if (targeted) {
        // A client-targeted entry: this client's events differ from the others', so no shared batch.
        events = eventsFor(buf, conn.clientId);
        sharedPacked = false;
        sharedEpoch = null;
        if (events.length === 0) continue;
      }
      const ch = conn.ch;
      if (ch === null || !ch.open) {
        this.addPending(conn, events);
        continue;
      }
      let batch: Packed | undefined;
      if (conn.pending !== null) batch = this.pack(conn.pending.concat(events), uid, conn.epoch);
      else if (conn.epoch !== null) {
        if (sharedEpoch !== conn.epoch) {
          sharedPos = this.pack(events, uid, conn.epoch);
          sharedEpoch = conn.epoch;
        }
        batch = sharedPos;
      } else {
        if (!sharedPacked) {
          shared = this.pack(events, uid, null);
          sharedPacked = true;
        }
        batch = shared;
      }
      conn.pending = null;
      if (batch !== undefined) ch.send(batch);
    }
  }

  /** The batch of events kept for `conn` while it had no channel, packed, and the queue emptied. */
  takePending(conn: Conn): Packed | undefined {
    if (conn.pending === null) return undefined;
    const packed = this.pack(conn.pending, conn.uid, conn.epoch);
    conn.pending = null;
    return packed;
  }

  /** Recovery: the entries kept for `conn`, with their positions, and the queue emptied. */
  takePendingEntries(conn: Conn): LogEntry[] {
    const pending = conn.pending ?? [];
    conn.pending = null;
    return pending.map(entryOf);
  }

  /** Recovery: `entries` as one positioned batch for `conn` (its epoch set), or `undefined` when there is nothing to send. */
  packEntries(conn: Conn, entries: readonly LogEntry[]): Packed | undefined {
    if (entries.length === 0) return undefined;
    return this.pack(entries.map((e) => (e instanceof Entry ? e : new Entry(e.event, undefined, e.stream, e.seq))), conn.uid, conn.epoch);
  }

  /**
   * Packs a push batch. `send` validated each event's shape, but a value the packer cannot carry
   * (a BigInt, a cycle) only shows here, inside a timer: drop those events, log them, and deliver
   * the rest rather than throw out of the timer.
   */
  private pack(items: readonly Buffered[], uid: Uid, epoch: string | null): Packed | undefined {
    const { packer } = this.ctx;
    const batch = (xs: readonly Buffered[]): readonly ChskEvent[] => (epoch === null ? xs.map(eventOf) : positionedBatch(epoch, xs.map(entryOf)));
    try {
      return packEnvelope(packer, Envelopes.batch(batch(items)));
    } catch {
      const ok = items.filter((b) => {
        const e = eventOf(b);
        try {
          packEnvelope(packer, Envelopes.batch([e]));
          return true;
        } catch (err) {
          this.ctx.logger.error('sente-rx: dropped a pushed event that cannot be packed', { uid, id: e[0], err });
          return false;
        }
      });
      return ok.length === 0 ? undefined : packEnvelope(packer, Envelopes.batch(batch(ok)));
    }
  }

  private addPending(conn: Conn, events: readonly Buffered[]): void {
    const pending = (conn.pending ??= []);
    for (const e of events) pending.push(e);
    const over = pending.length - this.ctx.options.maxPendingEvents;
    if (over > 0) {
      pending.splice(0, over);
      this.ctx.logger.warn('sente-rx: dropped the oldest events kept for a client without a channel (maxPendingEvents)', {
        clientId: conn.clientId,
        uid: conn.uid,
        dropped: over,
      });
    }
  }

  /** Drops every buffer and batching timer (server close). */
  close(): void {
    for (const type of CONN_TYPES) {
      for (const t of this.timers[type].values()) t.unsubscribe();
      this.timers[type].clear();
      this.bufs[type].clear();
    }
  }
}

