/**
 * Pushes: per-uid send buffers and their batching windows (`sendBufMs`), the pending queues of
 * clients without a channel, and packing batches.
 */
import { batchEnvelope, type ChskEvent, CloseCode, type Packed, ProtocolCloseReason, ReservedId, type Uid } from '@sente-rx/core';
import { type Subscription, timer } from 'rxjs';
import type { BrokerMessage } from './broker.js';
import type { SharedContext } from './channel.js';
import { CONN_TYPES, type Conn, type ConnType, type Registry } from './registry.js';

// ---- addressing (targets): routed here, before the per-uid buffers -----------------------------

/** A buffered event for one client of the uid only (a `{ uid, clientId }` send or a request); filtered per client at flush. */
export class ForClient {
  constructor(
    readonly clientId: string,
    readonly event: ChskEvent,
  ) {}
}

type Buffered = ChskEvent | ForClient;

/** The events of `buf` that `clientId` gets. */
function eventsFor(buf: readonly Buffered[], clientId: string): readonly ChskEvent[] {
  const out: ChskEvent[] = [];
  for (const b of buf) {
    if (!(b instanceof ForClient)) out.push(b);
    else if (b.clientId === clientId) out.push(b.event);
  }
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
    const { target, events, flush } = msg;
    if (target.kind === 'all') {
      for (const type of CONN_TYPES) for (const uid of [...this.registry.uids(type)]) this.deliverTo(type, uid, events, flush, undefined);
      return;
    }
    const { uid } = target;
    const clientId = target.kind === 'client' ? target.clientId : undefined;
    if (clientId === undefined && events.length === 1 && events[0]?.[0] === ReservedId.CLOSE) {
      this.closeUid(uid, flush);
      return;
    }
    for (const type of CONN_TYPES) this.deliverTo(type, uid, events, flush, clientId);
  }

  /** Buffers `events` for the clients of `uid` on `type` (only `clientId`, when given); the per-uid batching is unchanged. */
  private deliverTo(type: ConnType, uid: Uid, events: readonly ChskEvent[], flush: boolean, clientId: string | undefined): void {
    const clients = this.registry.clients(type, uid);
    if (clients === undefined || (clientId !== undefined && !clients.has(clientId))) return;
    let buf = this.bufs[type].get(uid);
    if (buf === undefined) this.bufs[type].set(uid, (buf = []));
    if (clientId === undefined) for (const e of events) buf.push(e);
    else {
      for (const e of events) buf.push(new ForClient(clientId, e));
      this.targeted[type].add(uid);
    }
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
    let events = buf as readonly ChskEvent[];
    // Clients with nothing pending share one packed batch.
    let shared: Packed | undefined;
    let sharedPacked = false;
    for (const conn of clients.values()) {
      if (targeted) {
        // A client-targeted entry: this client's events differ from the others', so no shared batch.
        events = eventsFor(buf, conn.clientId);
        sharedPacked = false;
        if (events.length === 0) continue;
      }
      const ch = conn.ch;
      if (ch === null || !ch.open) {
        this.addPending(conn, events);
        continue;
      }
      let batch: Packed | undefined;
      if (conn.pending === null) {
        if (!sharedPacked) {
          shared = this.pack(events, uid);
          sharedPacked = true;
        }
        batch = shared;
      } else batch = this.pack(conn.pending.concat(events), uid);
      conn.pending = null;
      if (batch !== undefined) ch.send(batch);
    }
  }

  /** The batch of events kept for `conn` while it had no channel, packed, and the queue emptied. */
  takePending(conn: Conn): Packed | undefined {
    if (conn.pending === null) return undefined;
    const packed = this.pack(conn.pending, conn.uid);
    conn.pending = null;
    return packed;
  }

  /**
   * Packs a push batch. `send` validated each event's shape, but a value the packer cannot carry
   * (a BigInt, a cycle) only shows here, inside a timer: drop those events, log them, and deliver
   * the rest rather than throw out of the timer.
   */
  private pack(events: readonly ChskEvent[], uid: Uid): Packed | undefined {
    const { packer } = this.ctx;
    try {
      return packer.pack(batchEnvelope(events));
    } catch {
      const ok = events.filter((e) => {
        try {
          packer.pack(e);
          return true;
        } catch (err) {
          this.ctx.logger.error('sente-rx: dropped a pushed event that cannot be packed', { uid, id: e[0], err });
          return false;
        }
      });
      return ok.length === 0 ? undefined : packer.pack(batchEnvelope(ok));
    }
  }

  private addPending(conn: Conn, events: readonly ChskEvent[]): void {
    if (conn.fromLog) return; // its next poll reads them from the broker's log (ajax-positions.ts)
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

