import { type ChskEvent, type Logger, silentLogger, type Uid } from '@sente-rx/core';
import { asapScheduler, type SchedulerLike } from 'rxjs';
import {
  type Broker,
  type BrokerMessage,
  type BrokerNode,
  type BrokerReply,
  type BrokerRequest,
  type BrokerStats,
  type HistoryPage,
  type LoggedEvent,
  NO_HOLDER_MESSAGE,
  type Position,
  type RecoveryBounds,
  type RecoveryOptions,
  resolveRecovery,
  type SendTarget,
} from './contract.js';
import { buildPage, type StoredEvent, type StreamSlice, validLimit, validPosition } from './history.js';
import { type Kinds, kindsOf, PresenceSets } from './presence.js';

export interface InMemoryBrokerV2Options {
  /** The log's bounds, or `false` for no log (seq 0, history() always incomplete). @default DEFAULT_RECOVERY */
  readonly recovery?: RecoveryOptions | false;
  /** Clock for log ages and the scheduler of coalesced connectedUids$ emissions. @default asapScheduler */
  readonly scheduler?: SchedulerLike;
  /** Where a throwing node handler is reported (it never propagates into publish()). @default silentLogger */
  readonly logger?: Logger;
}

interface Stored extends StoredEvent {
  readonly at: number;
}

/** One stream: a bounded array used as a queue (`start` is the first live index). */
class Stream {
  readonly gen: string;
  seq = 0;
  touched = 0;
  events: Stored[] = [];
  start = 0;
  constructor(gen: string) {
    this.gen = gen;
  }
  append(e: Stored, maxEvents: number): void {
    this.events.push(e);
    if (this.events.length - this.start > maxEvents) this.start++;
    this.#compact();
  }
  expireBefore(t: number): void {
    while (this.start < this.events.length && (this.events[this.start]?.at ?? t) < t) this.start++;
    this.#compact();
  }
  slice(from: number): StreamSlice {
    const first = this.events[this.start];
    const floor = first === undefined ? this.seq + 1 : first.seq;
    const entries: Stored[] = [];
    for (let i = Math.max(this.start, this.start + (from - floor + 1)); i < this.events.length; i++) {
      const e = this.events[i];
      if (e !== undefined && e.seq > from) entries.push(e);
    }
    return { entries, head: this.seq, floor, exhausted: true };
  }
  #compact(): void {
    // Amortized O(1): drop the dead prefix once it is half the array.
    if (this.start > 32 && this.start * 2 > this.events.length) {
      this.events = this.events.slice(this.start);
      this.start = 0;
    }
  }
}

let instances = 0;
const randomId = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}${(instances++).toString(36)}`;

/**
 * The one-process reference broker: one node, synchronous delivery, presence O(1) per change,
 * and the log in process memory.
 *
 * Memory bound (recovery on): each stream (one per uid published to, plus the broadcast one) keeps
 * at most `maxEvents` events, none older than `maxAgeMs` once the stream is touched; a stream with
 * no append for `maxAgeMs` has its events freed; its metadata (generation + counter, ~100 bytes)
 * is removed after `metaTtlMs` without publish/head/history. Expiry is lazy and amortized O(1):
 * every broker call first pops the expired streams off two insertion-ordered maps (no timers).
 * So at most (uids published to within maxAgeMs) × maxEvents events are held.
 *
 * connectedUids$: see PresenceSets (one emission per `scheduler` run, live sets).
 */
export function inMemoryBrokerV2(options: InMemoryBrokerV2Options = {}): Broker {
  const bounds: RecoveryBounds | undefined = resolveRecovery(options.recovery);
  const scheduler = options.scheduler ?? asapScheduler;
  const epochBase = randomId();
  let gens = 0;
  const presence = new PresenceSets(scheduler);
  const log = options.logger ?? silentLogger;
  const safely = (what: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      log.error(`sente-rx/broker: the server's ${what} handler threw`, { error: e instanceof Error ? e.message : String(e) });
    }
  };
  const local = new Map<Uid, Kinds>();
  let node: BrokerNode | undefined;
  let closed = false;
  let order = 0;
  let published = 0;
  let delivered = 0;
  let logged = 0;

  const broadcast = new Stream('g');
  // Insertion order = last-touch order (re-inserted on touch), so expiry pops from the front.
  const byTouch = new Map<Uid, Stream>();
  const byAppend = new Map<Uid, Stream>();

  const expire = (now: number): void => {
    if (bounds === undefined) return;
    for (const [uid, s] of byAppend) {
      const last = s.events[s.events.length - 1];
      if (last !== undefined && last.at + bounds.maxAgeMs >= now) break;
      s.events = [];
      s.start = 0;
      byAppend.delete(uid);
    }
    for (const [uid, s] of byTouch) {
      if (s.touched + bounds.metaTtlMs >= now) break;
      byTouch.delete(uid);
      byAppend.delete(uid);
    }
    broadcast.expireBefore(now - bounds.maxAgeMs);
  };
  const streamOf = (uid: Uid, now: number): Stream => {
    let s = byTouch.get(uid);
    if (s === undefined) s = new Stream(`${(gens++).toString(36)}`);
    else byTouch.delete(uid);
    byTouch.set(uid, s);
    s.touched = now;
    return s;
  };
  const epochOf = (s: Stream): string => `${epochBase}.${s.gen}`;

  const stamp = (target: SendTarget, events: readonly ChskEvent[], now: number): LoggedEvent[] => {
    const clientId = target.kind === 'client' ? target.clientId : undefined;
    const streamName = target.kind === 'all' ? 'g' : 'u';
    if (bounds === undefined) return events.map((event) => (clientId === undefined ? { event, stream: streamName, seq: 0 } : { event, stream: streamName, seq: 0, clientId }));
    const s = target.kind === 'all' ? broadcast : streamOf(target.uid, now);
    if (target.kind !== 'all') {
      byAppend.delete(target.uid);
      byAppend.set(target.uid, s);
    }
    s.expireBefore(now - bounds.maxAgeMs);
    logged += events.length;
    return events.map((event) => {
      const seq = ++s.seq;
      const stored: Stored = clientId === undefined ? { seq, event, order: order++, at: now } : { seq, event, clientId, order: order++, at: now };
      s.append(stored, bounds.maxEvents);
      return clientId === undefined ? { event, stream: streamName, seq } : { event, stream: streamName, seq, clientId };
    });
  };

  const deliver = (msg: BrokerMessage): void => {
    if (node === undefined) return;
    delivered++;
    const n = node;
    safely('deliver', () => n.deliver(msg));
  };

  return {
    keepsLog: bounds !== undefined,
    connect(n) {
      if (node !== undefined) throw new Error('inMemoryBrokerV2 serves one server; create one per server');
      node = n;
    },
    publish(target, events, flush) {
      if (closed) return;
      published++;
      const now = scheduler.now();
      expire(now);
      const msg: BrokerMessage = { target, events, logged: stamp(target, events, now), flush };
      if (target.kind === 'all' || local.has(target.uid)) deliver(msg);
    },
    request(req: BrokerRequest) {
      if (closed || node === undefined) return;
      const n = node;
      if (local.has(req.uid)) safely('request', () => n.request(req));
      else if (req.from === n.nodeId) safely('reply', () => n.reply({ id: req.id, to: req.from, outcome: { ok: false, code: 'chsk/closed', message: NO_HOLDER_MESSAGE } }));
    },
    reply(rep: BrokerReply) {
      const n = node;
      if (closed || n === undefined || rep.to !== n.nodeId) return;
      safely('reply', () => n.reply(rep));
    },
    localPresence(uid, on) {
      if (closed) return;
      const kinds = kindsOf(on);
      const was = local.has(uid);
      if (kinds === '') local.delete(uid);
      else local.set(uid, kinds);
      presence.set(uid, kinds);
      const n = node;
      if (n !== undefined && was !== (kinds !== '')) safely('uidport', () => n.uidport(uid, !was));
    },
    connectedUids$: presence.uids$,
    history(uid, clientId, fromArg, limit): Promise<HistoryPage> {
      const from = validPosition(fromArg);
      const now = scheduler.now();
      expire(now);
      if (bounds === undefined) return Promise.resolve({ events: [], complete: false, position: { epoch: epochBase, u: 0, g: 0 } });
      const s = streamOf(uid, now);
      s.expireBefore(now - bounds.maxAgeMs);
      broadcast.expireBefore(now - bounds.maxAgeMs);
      return Promise.resolve(buildPage(epochOf(s), clientId, from, validLimit(limit), s.slice(from.u), broadcast.slice(from.g)));
    },
    head(uid): Promise<Position> {
      const now = scheduler.now();
      expire(now);
      if (bounds === undefined) return Promise.resolve({ epoch: epochBase, u: 0, g: 0 });
      const s = streamOf(uid, now);
      return Promise.resolve({ epoch: epochOf(s), u: s.seq, g: broadcast.seq });
    },
    settled: () => Promise.resolve(),
    stats(): BrokerStats {
      return { published, delivered, dropped: 0, reconnects: 0, logged, received: delivered };
    },
    close() {
      if (!closed) {
        closed = true;
        node = undefined;
        presence.close();
        byTouch.clear();
        byAppend.clear();
      }
      return Promise.resolve();
    },
  };
}
