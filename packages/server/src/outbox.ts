/**
 * Pushes: per-uid send buffers and their batching (`batching`, `sendBufMs`, `maxBatchEvents`), the
 * pending queues of clients without a channel, and packing batches.
 *
 * Time costs one scheduler action per transport and kind, never one per uid: batches due at the end
 * of the turn share one action; batches waiting for a window sit in maps whose order is their due
 * order, each served by one action set for the earliest: `timed` in insertion order (due
 * `sendBufMs` after the first push), `busy` in the order of `lastOut` (due `sendBufMs` after the
 * uid's previous batch). Targets are routed before the buffers: a client-targeted event waits in
 * its uid's buffer (so it keeps its order with the uid's pushes) and is filtered per client when
 * the batch goes out.
 */
import { type ChskEvent, CloseCode, Envelopes, type Packed, packEnvelope, type Position, ProtocolCloseReason, ReservedId, type Uid } from '@sente-rx/core';
import { asapScheduler, asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
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
    /** The log's epoch (uid stream) or generation (broadcasts) at append time, when the broker tells (see `LoggedEvent.epoch`). */
    readonly epoch?: string,
  ) {}
}

/**
 * Whether `items` hold an event of another log than the connection's `epoch` (a uid-stream event of
 * another epoch, a broadcast of another broadcast generation: see `LoggedEvent.epoch`): the log was
 * replaced under the connection.
 */
export function logReplaced(items: readonly Buffered[], epoch: string): boolean {
  for (const b of items) {
    if (!(b instanceof Entry) || b.epoch === undefined) continue;
    if (b.stream === 'u' ? b.epoch !== epoch : !(epoch.startsWith(b.epoch) && epoch[b.epoch.length] === '.')) return true;
  }
  return false;
}

export type Buffered = ChskEvent | Entry;

/** `p` advanced past the logged entries of `items` (the client's position once it has them: the highest seq per stream). */
export function advancePast(p: Position, items: readonly Buffered[]): Position {
  let { u, g } = p;
  for (const b of items) {
    if (!(b instanceof Entry) || b.seq === 0) continue;
    if (b.stream === 'u') u = Math.max(u, b.seq);
    else g = Math.max(g, b.seq);
  }
  return u === p.u && g === p.g ? p : { epoch: p.epoch, u, g };
}

const eventOf = (b: Buffered): ChskEvent => (b instanceof Entry ? b.event : b);
/** A buffered item as a log entry (a bare event is not in the log). */
export const entryOf = (b: Buffered): LogEntry => (b instanceof Entry ? b : { event: b, stream: 'u', seq: 0 });

/** The items of `buf` that `clientId` gets. */
function eventsFor(buf: readonly Buffered[], clientId: string): Buffered[] {
  const out: Buffered[] = [];
  for (const b of buf) if (!(b instanceof Entry) || b.clientId === undefined || b.clientId === clientId) out.push(b);
  return out;
}

/** Whether `items` is exactly the batches of `run`, one after the other. */
function isRun(items: readonly Buffered[], run: readonly (readonly Buffered[])[]): boolean {
  let i = 0;
  for (const batch of run) for (const b of batch) if (items[i++] !== b) return false;
  return i === items.length;
}

const sameRun = (a: readonly (readonly Buffered[])[], b: readonly (readonly Buffered[])[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** A packing of several batches in a row, as `takePending` shares it. */
interface RunPacking {
  readonly run: readonly (readonly Buffered[])[];
  readonly epoch: string | null;
  readonly packed: Packed | undefined;
}

/** Packings of runs kept per last batch (the clients of a uid that polled at different times end their runs with the same batch). */
const RUNS_PER_BATCH = 4;

/** A batch waiting for its window. */
interface Timed {
  readonly events: Buffered[];
  readonly due: number;
}

/** The buffers of one transport. */
interface Lane {
  readonly type: ConnType;
  /** Due at the end of the current turn (adaptive batching, idle uid). */
  readonly soon: Map<Uid, Buffered[]>;
  /** Due at `due`; insertion order is due order. */
  readonly timed: Map<Uid, Timed>;
  /** Adaptive batching, busy uids: due `sendBufMs` after the uid's `lastOut`. */
  readonly busy: Map<Uid, Buffered[]>;
  /** Adaptive batching: when a batch last went out to each recently served uid, oldest first. */
  readonly lastOut: Map<Uid, number>;
  soonAction: Subscription | null;
  timedAction: Subscription | null;
  busyAction: Subscription | null;
}

const lane = (type: ConnType): Lane => ({
  type,
  soon: new Map(),
  timed: new Map(),
  busy: new Map(),
  lastOut: new Map(),
  soonAction: null,
  timedAction: null,
  busyAction: null,
});

export class Outbox {
  private readonly lanes: Readonly<Record<ConnType, Lane>> = { ws: lane('ws'), ajax: lane('ajax') };
  private readonly adaptive: boolean;
  /** Packings made by `packShared`, by batch (the item list every client of the uid got), for one epoch. */
  private readonly packings = new WeakMap<readonly Buffered[], { readonly epoch: string | null; readonly packed: Packed | undefined }>();
  /** Packings of runs of batches, by their last batch. */
  private readonly runPackings = new WeakMap<readonly Buffered[], RunPacking[]>();
  /** The batches a client's pending queue was made of, in order, while it holds exactly them. */
  private readonly pendingFrom = new WeakMap<Conn, (readonly Buffered[])[]>();
  /** Runs "end of this turn" actions: microtasks on the default scheduler, delay 0 on an injected one. */
  private readonly soonScheduler: SchedulerLike;

  constructor(
    private readonly ctx: SharedContext,
    private readonly registry: Registry,
  ) {
    this.adaptive = ctx.options.batching === 'adaptive';
    this.soonScheduler = ctx.scheduler === asyncScheduler ? asapScheduler : ctx.scheduler;
  }

  /** A publish from the broker: routed by target to the per-uid buffers of this node's clients. */
  deliver(msg: BrokerMessage): void {
    if (this.ctx.closing) return;
    const { target, events, flush, logged } = msg;
    const clientId = target.kind === 'client' ? target.clientId : undefined;
    if (target.kind === 'uid' && events.length === 1 && events[0]?.[0] === ReservedId.CLOSE) {
      this.closeUid(target.uid, flush);
      return;
    }
    // One item list per message, shared by every uid buffer it goes to.
    const items: readonly Buffered[] =
      clientId === undefined && logged === undefined
        ? events
        : events.map((e, i) => {
            const l = logged?.[i];
            return new Entry(e, clientId, l?.stream, l?.seq, l?.epoch);
          });
    if (target.kind === 'all') {
      for (const type of CONN_TYPES) for (const uid of [...this.registry.uids(type)]) this.deliverTo(type, uid, items, flush, undefined);
      return;
    }
    for (const type of CONN_TYPES) this.deliverTo(type, target.uid, items, flush, clientId);
  }

  /** Buffers `items` for the clients of `uid` on `type` (only `clientId`, when given), batched by the lane's rule. */
  private deliverTo(type: ConnType, uid: Uid, items: readonly Buffered[], flush: boolean, clientId: string | undefined): void {
    const clients = this.registry.clients(type, uid);
    if (clients === undefined || (clientId !== undefined && !clients.has(clientId))) return;
    const l = this.lanes[type];
    let buf = l.soon.get(uid) ?? l.busy.get(uid) ?? l.timed.get(uid)?.events;
    if (buf === undefined) {
      const windowMs = this.ctx.options.sendBufMs[type];
      if (flush || windowMs === 0) {
        this.sendBatch(l, uid, items); // nothing buffered: no buffer needed
        return;
      }
      const now = this.ctx.scheduler.now();
      const last = this.adaptive ? l.lastOut.get(uid) : undefined;
      const busy = last !== undefined && now - last < windowMs;
      // A busy WebSocket uid sends a window after its last batch; a busy Ajax uid a window after
      // its first push, as Sente does: every Ajax answer costs the client a new poll.
      if (busy && type === 'ws') {
        l.busy.set(uid, (buf = []));
        this.armBusy(l, now);
      } else if (this.adaptive && !busy && (type === 'ws' || this.allPolling(uid))) {
        l.soon.set(uid, (buf = []));
        l.soonAction ??= this.soonScheduler.schedule(() => this.runSoon(l));
      } else {
        l.timed.set(uid, { events: (buf = []), due: now + windowMs });
        l.timedAction ??= this.ctx.scheduler.schedule(() => this.runTimed(l), windowMs);
      }
    }
    for (const e of items) buf.push(e);
    if (flush || buf.length >= this.ctx.options.maxBatchEvents) this.flushUid(l, uid);
  }

  /** Sets the busy action, if none is set, for the oldest `lastOut` entry's end of window (no later than any busy batch's). */
  private armBusy(l: Lane, now: number): void {
    if (l.busyAction !== null) return;
    for (const t of l.lastOut.values()) {
      const delay = Math.max(0, t + this.ctx.options.sendBufMs[l.type] - now);
      l.busyAction = this.ctx.scheduler.schedule(() => this.runBusy(l), delay);
      return;
    }
  }

  /** Walks `lastOut` oldest first: a uid whose window ended sends its busy batch, or is forgotten. */
  private runBusy(l: Lane): void {
    l.busyAction = null;
    const now = this.ctx.scheduler.now();
    const windowMs = this.ctx.options.sendBufMs[l.type];
    for (const [uid, t] of l.lastOut) {
      if (now - t < windowMs) break;
      l.lastOut.delete(uid);
      const events = l.busy.get(uid);
      if (events === undefined) continue;
      l.busy.delete(uid);
      this.sendBatch(l, uid, events); // puts uid back at the end of lastOut
    }
    if (l.busy.size > 0) this.armBusy(l, now);
  }

  /**
   * Ajax: whether every client of `uid` holds a poll. Only then is the uid idle enough to answer at
   * the end of the turn: a client between polls would get the events as a pending queue on its
   * next poll, answered at once, and under load those immediate answers become a poll per event.
   */
  private allPolling(uid: Uid): boolean {
    for (const c of this.registry.clients('ajax', uid)?.values() ?? []) if (c.ch === null || !c.ch.open) return false;
    return true;
  }

  private runSoon(l: Lane): void {
    l.soonAction = null; // first: a batch added while this runs gets an action of its own
    for (const [uid, events] of l.soon) {
      l.soon.delete(uid);
      this.sendBatch(l, uid, events);
    }
  }

  private runTimed(l: Lane): void {
    l.timedAction = null;
    const now = this.ctx.scheduler.now();
    for (const [uid, t] of l.timed) {
      if (t.due > now) {
        l.timedAction ??= this.ctx.scheduler.schedule(() => this.runTimed(l), t.due - now);
        return;
      }
      l.timed.delete(uid);
      this.sendBatch(l, uid, t.events);
    }
  }

  /** Sends `uid`'s buffered batch now, wherever it waits. */
  private flushUid(l: Lane, uid: Uid): void {
    const soon = l.soon.get(uid);
    if (soon !== undefined) {
      l.soon.delete(uid);
      this.sendBatch(l, uid, soon);
      return;
    }
    const busy = l.busy.get(uid);
    if (busy !== undefined) {
      l.busy.delete(uid);
      this.sendBatch(l, uid, busy);
      return;
    }
    const t = l.timed.get(uid);
    if (t !== undefined) {
      l.timed.delete(uid);
      this.sendBatch(l, uid, t.events);
    }
  }

  /** Sente's undocumented `[:chsk/close]`: close every channel of `uid`; its clients reconnect. */
  private closeUid(uid: Uid, flush: boolean): void {
    if (flush) for (const type of CONN_TYPES) this.flushUid(this.lanes[type], uid);
    for (const type of CONN_TYPES) {
      for (const c of this.registry.clients(type, uid)?.values() ?? []) {
        if (c.ch?.open === true) c.ch.close(CloseCode.SERVER_CLOSE_UID, ProtocolCloseReason.CLOSE_UID);
      }
    }
  }

  /**
   * Packs `items` once for every client of `uid` with nothing pending, and sends. A batch holding a
   * client-targeted entry differs per client, so then each client's events are packed for it.
   */
  private sendBatch(l: Lane, uid: Uid, items: readonly Buffered[]): void {
    if (items.length === 0) return;
    const clients = this.registry.clients(l.type, uid);
    if (clients === undefined) {
      this.ctx.logger.debug('sente-rx: dropped events for a uid whose clients left during the batching window', { uid, type: l.type, dropped: items.length });
      return;
    }
    if (this.adaptive) this.sent(l, uid);
    const targeted = items.some((e) => e instanceof Entry && e.clientId !== undefined);
    // Clients with nothing pending share one packing per epoch (`null` for plain clients; recovery
    // clients' batches carry the chsk/pos entry, PROTOCOL.md §11.4), and so do the polls that later
    // take this batch as their whole pending queue (`takePending`).
    for (const conn of clients.values()) {
      const events = targeted ? eventsFor(items, conn.clientId) : items;
      if (events.length === 0) continue;
      const ch = conn.ch;
      if (ch === null || !ch.open) {
        this.addPending(conn, events);
        continue;
      }
      if (conn.epoch !== null && logReplaced(events, conn.epoch)) {
        // Sequences restarted in a new log: the client would take these for duplicates. It reconnects
        // instead, presents its position, and learns recovered: false (PROTOCOL.md §11.5).
        this.ctx.logger.info('sente-rx: the recovery log of a uid was replaced under a live connection; making the client reconnect', { uid, clientId: conn.clientId });
        conn.pending = null;
        conn.lpPos = null;
        ch.close(CloseCode.LOG_RESET, ProtocolCloseReason.LOG_RESET);
        continue;
      }
      let batch: Packed | undefined;
      const held = conn.pending;
      if (held !== null || targeted) batch = this.pack(held === null ? events : held.concat(events), uid, conn.epoch);
      else batch = this.packShared(events, uid, conn.epoch);
      conn.pending = null;
      this.pendingFrom.delete(conn);
      if (batch !== undefined && ch.send(batch) && conn.lpPos !== null) conn.lpPos = advancePast(held === null ? conn.lpPos : advancePast(conn.lpPos, held), events);
    }
  }

  /** The batch of events kept for `conn` while it had no channel, packed, and the queue emptied. */
  takePending(conn: Conn): Packed | undefined {
    const pending = conn.pending;
    if (pending === null) return undefined;
    const run = this.pendingFrom.get(conn);
    this.pendingFrom.delete(conn);
    // Under load most polls find the batches the uid's other clients find: one batch, or (clients
    // slower than the batches) the same run of them since their last common answer.
    let packed: Packed | undefined;
    if (run === undefined || run.length === 0 || !isRun(pending, run)) packed = this.pack(pending, conn.uid, conn.epoch);
    else if (run.length === 1) packed = this.packShared(run[0] as readonly Buffered[], conn.uid, conn.epoch);
    else packed = this.packRun(run, pending, conn.uid, conn.epoch);
    conn.pending = null;
    return packed;
  }

  /** `pack(items)` for `items` made of the batches of `run`, made once per run and epoch. */
  private packRun(run: readonly (readonly Buffered[])[], items: readonly Buffered[], uid: Uid, epoch: string | null): Packed | undefined {
    const last = run[run.length - 1] as readonly Buffered[];
    let kept = this.runPackings.get(last);
    const done = kept?.find((k) => k.epoch === epoch && sameRun(k.run, run));
    if (done !== undefined) return done.packed;
    const packed = this.pack(items, uid, epoch);
    if (kept === undefined) this.runPackings.set(last, (kept = []));
    if (kept.length >= RUNS_PER_BATCH) kept.shift();
    kept.push({ run, epoch, packed });
    return packed;
  }

  /** `pack`, made once per batch and epoch for every client (and poll) that gets exactly `items`. */
  private packShared(items: readonly Buffered[], uid: Uid, epoch: string | null): Packed | undefined {
    const done = this.packings.get(items);
    if (done !== undefined && done.epoch === epoch) return done.packed;
    const packed = this.pack(items, uid, epoch);
    this.packings.set(items, { epoch, packed });
    return packed;
  }

  /** Recovery: `entries` as one positioned batch for `conn` (its epoch set), or `undefined` when there is nothing to send. */
  packEntries(conn: Conn, entries: readonly LogEntry[]): Packed | undefined {
    if (entries.length === 0) return undefined;
    return this.pack(
      entries.map((e) => (e instanceof Entry ? e : new Entry(e.event, undefined, e.stream, e.seq))),
      conn.uid,
      conn.epoch,
    );
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
    if (conn.pending === null) this.pendingFrom.set(conn, [events]);
    else this.pendingFrom.get(conn)?.push(events);
    const pending = (conn.pending ??= []);
    for (const e of events) pending.push(e);
    const over = pending.length - this.ctx.options.maxPendingEvents;
    if (over > 0) {
      this.pendingFrom.delete(conn);
      pending.splice(0, over);
      this.ctx.logger.warn('sente-rx: dropped the oldest events kept for a client without a channel (maxPendingEvents)', {
        clientId: conn.clientId,
        uid: conn.uid,
        dropped: over,
      });
    }
  }

  /**
   * Adaptive batching: `uid` just had a batch go out. Forgets, oldest first, uids whose window
   * ended with nothing buffered; stops at one with a busy batch (the busy action sends it).
   */
  private sent(l: Lane, uid: Uid): void {
    const now = this.ctx.scheduler.now();
    const windowMs = this.ctx.options.sendBufMs[l.type];
    l.lastOut.delete(uid);
    for (const [u, t] of l.lastOut) {
      if (now - t < windowMs || l.busy.has(u)) break;
      l.lastOut.delete(u);
    }
    if (windowMs > 0) l.lastOut.set(uid, now);
  }

  /** Drops every buffer and batching action (server close). */
  close(): void {
    for (const type of CONN_TYPES) {
      const l = this.lanes[type];
      l.soonAction?.unsubscribe();
      l.timedAction?.unsubscribe();
      l.busyAction?.unsubscribe();
      l.soonAction = l.timedAction = l.busyAction = null;
      l.soon.clear();
      l.timed.clear();
      l.busy.clear();
      l.lastOut.clear();
    }
  }
}
