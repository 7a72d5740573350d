/**
 * The bounded event log behind recovery (issue 13), as pure in-process logic: one stream per uid
 * and one for broadcasts, positions, history pages. The server's `inMemoryBroker` keeps its log in
 * a `MemoryLog`; `@sente-rx/redis` keeps its log in Redis and builds its pages with `buildPage`
 * (its in-memory reference broker uses `MemoryLog` too), so both answer `history()` alike.
 */
import { type ChskEvent, type Position, randomUuid, type Uid } from '@sente-rx/core';
import type { HistoryPage, LoggedEvent, SendTarget } from './broker.js';

/** The log's bounds. */
export interface LogBounds {
  /** Events kept per stream. */
  readonly maxEvents: number;
  /** Events older than this are never replayed; a stream with no append for this long is freed. */
  readonly maxAgeMs: number;
  /** A stream's counter and generation are forgotten after this long without use (then positions of it get `complete: false`). */
  readonly metaTtlMs: number;
}

/** One stored event, as both brokers keep it. */
export interface StoredEvent {
  readonly seq: number;
  readonly event: ChskEvent;
  readonly clientId?: string;
  /** Cross-stream order key: an append counter (in process memory, or a Redis counter per prefix). */
  readonly order: number;
}

/** What a broker knows about one stream when answering history(). */
export interface StreamSlice {
  /** Retained, unexpired events with seq > from, ascending (may stop early: see `exhausted`). */
  readonly entries: readonly StoredEvent[];
  /** Last sequence appended to the stream. */
  readonly head: number;
  /** Lowest sequence still retained (head + 1 when nothing is). */
  readonly floor: number;
  /** True when `entries` runs up to the head (nothing after the last entry was left unread). */
  readonly exhausted: boolean;
}

const toLogged = (stream: 'u' | 'g', e: StoredEvent): LoggedEvent =>
  e.clientId === undefined ? { event: e.event, stream, seq: e.seq } : { event: e.event, stream, seq: e.seq, clientId: e.clientId };

/**
 * Merges a uid slice and the broadcast slice into one page of at most `limit` events for clientId,
 * in order within each stream and by `order` across them. Events for other clients are skipped but
 * still advance the position, so a page is short only when it reached the head of what was read.
 */
export function buildPage(epoch: string, clientId: string, from: Position, limit: number, u: StreamSlice, g: StreamSlice): HistoryPage {
  const complete = from.epoch === epoch && covers(from.u, u) && covers(from.g, g);
  if (from.epoch !== epoch) return { events: [], complete: false, position: { epoch, u: u.head, g: g.head } };
  const events: LoggedEvent[] = [];
  let pu = Math.min(from.u, u.head);
  let pg = Math.min(from.g, g.head);
  if (limit <= 0) return { events, complete, position: { epoch, u: pu, g: pg } };
  let i = 0;
  let j = 0;
  while (events.length < limit && (i < u.entries.length || j < g.entries.length)) {
    const eu = u.entries[i];
    const eg = g.entries[j];
    if (eu !== undefined && (eg === undefined || eu.order <= eg.order)) {
      i++;
      pu = eu.seq;
      if (eu.clientId === undefined || eu.clientId === clientId) events.push(toLogged('u', eu));
    } else if (eg !== undefined) {
      j++;
      pg = eg.seq;
      events.push(toLogged('g', eg));
    }
  }
  if (i === u.entries.length && u.exhausted) pu = u.head;
  if (j === g.entries.length && g.exhausted) pg = g.head;
  return { events, complete, position: { epoch, u: pu, g: pg } };
}

/** A stream can resume from `seen` when nothing between seen and the oldest retained event was lost. */
function covers(seen: number, s: StreamSlice): boolean {
  return Number.isInteger(seen) && seen >= 0 && seen <= s.head && seen >= s.floor - 1;
}

const seqOk = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/**
 * A position as a client may send it (any shape): a malformed one becomes a position of no epoch,
 * which history() answers with `complete: false` and the head, never an error.
 */
export function validPosition(p: unknown): Position {
  if (typeof p !== 'object' || p === null) return INVALID_POSITION;
  const { epoch, u, g } = p as Record<string, unknown>;
  return typeof epoch === 'string' && seqOk(u) && seqOk(g) ? { epoch, u, g } : INVALID_POSITION;
}
const INVALID_POSITION: Position = Object.freeze({ epoch: '#invalid', u: 0, g: 0 });

export const validLimit = (limit: number): number => (Number.isInteger(limit) && limit > 0 ? limit : 0);

interface Stored extends StoredEvent {
  readonly at: number;
}

/** One stream: a bounded array used as a queue (`start` is the first live index). */
class Stream {
  seq = 0;
  /** Its log's epoch, made once (it goes with every appended event). */
  epoch: string | undefined;
  touched = 0;
  events: Stored[] = [];
  start = 0;
  constructor(readonly gen: string) {}
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

/**
 * The epoch of a log is `<broadcast generation>.<uid log generation>` (both brokers build it so),
 * each generation unique on its own and without dots: a position of another epoch tells which of
 * its two streams was replaced. The generations of the broadcast stream and of the uid stream
 * behind `epoch`; `u` undefined for an epoch of another shape (then both count as replaced).
 */
export function generationsOf(epoch: string): { readonly g: string; readonly u: string | undefined } {
  const dot = epoch.indexOf('.');
  return dot < 0 ? { g: epoch, u: undefined } : { g: epoch.slice(0, dot), u: epoch.slice(dot + 1) };
}

/**
 * Where a client that stands at `from` in a REPLACED log (its epoch is not the head's: a restarted
 * in-memory server, a flushed Redis, a uid log forgotten) starts in the current one, so that the
 * events of the new log it never saw are replayed rather than skipped: 0 in each stream that was
 * replaced (it cannot have seen any of the new stream: a server never sends a client events of
 * another epoch than its own), its own sequence in a stream that was not. `undefined` when the
 * epochs are the same (nothing was replaced).
 */
export function startInReplacedLog(from: Position, head: Position): Position | undefined {
  if (from.epoch === head.epoch) return undefined;
  const was = generationsOf(from.epoch);
  const now = generationsOf(head.epoch);
  const sameU = was.u !== undefined && was.u === now.u;
  return { epoch: head.epoch, u: sameU ? from.u : 0, g: was.g === now.g ? from.g : 0 };
}

/**
 * The log in process memory. Memory bound: each stream (one per uid published to, plus the
 * broadcast one) keeps at most `maxEvents` events, none older than `maxAgeMs` once the stream is
 * touched; a stream with no append for `maxAgeMs` has its events freed; its metadata (generation
 * + counter, ~100 bytes) is removed after `metaTtlMs` without publish/head/history. Expiry is lazy
 * and amortized O(1): every call first pops the expired streams off two insertion-ordered maps (no
 * timers), so virtual time drives it in tests. At most (uids published to within maxAgeMs) ×
 * maxEvents events are held. The epoch is `<broadcast generation>.<uid stream generation>`
 * (`generationsOf`): the broadcast generation is 48 random bits per log instance (from
 * `randomUuid`: a restarted process cannot resume positions of its previous life), a uid stream's
 * another 48 random bits per instance plus a counter, so it too is unique across instances.
 */
export class MemoryLog {
  readonly #bounds: LogBounds;
  // 48 random bits each (as the Redis broker's generations), from one v4 UUID's random hex digits:
  // the epoch goes into every positioned batch, so it stays short (~26 characters).
  readonly #id = randomUuid().replaceAll('-', '');
  readonly #epochBase = this.#id.slice(0, 12);
  readonly #genPrefix = this.#id.slice(20, 32);
  #gens = 0;
  #order = 0;
  /** Events appended so far. */
  logged = 0;
  readonly #broadcast = new Stream('g');
  // Insertion order = last-touch order (re-inserted on touch), so expiry pops from the front.
  readonly #byTouch = new Map<Uid, Stream>();
  readonly #byAppend = new Map<Uid, Stream>();
  /**
   * Until when nothing in #byAppend (#byTouch) expires: the front's time plus the bound, as the last
   * scan found it (a front moved to the back since is followed by later ones). #expire skips the
   * scan until then (issue 10): reaching the front of a Map that is re-inserted into on every
   * append walks past its deleted entries, O(uids) per call.
   */
  #appendsLiveUntil = -Infinity;
  #touchesLiveUntil = -Infinity;

  constructor(bounds: LogBounds) {
    this.#bounds = bounds;
  }

  #expire(now: number): void {
    const b = this.#bounds;
    if (now > this.#appendsLiveUntil) {
      this.#appendsLiveUntil = now + b.maxAgeMs; // with nothing left, nothing appended from now on expires sooner
      for (const [uid, s] of this.#byAppend) {
        const last = s.events[s.events.length - 1];
        if (last !== undefined && last.at + b.maxAgeMs >= now) {
          this.#appendsLiveUntil = last.at + b.maxAgeMs;
          break;
        }
        s.events = [];
        s.start = 0;
        this.#byAppend.delete(uid);
      }
    }
    if (now > this.#touchesLiveUntil) {
      this.#touchesLiveUntil = now + b.metaTtlMs;
      for (const [uid, s] of this.#byTouch) {
        if (s.touched + b.metaTtlMs >= now) {
          this.#touchesLiveUntil = s.touched + b.metaTtlMs;
          break;
        }
        this.#byTouch.delete(uid);
        this.#byAppend.delete(uid);
      }
    }
    this.#broadcast.expireBefore(now - b.maxAgeMs);
  }

  #streamOf(uid: Uid, now: number): Stream {
    let s = this.#byTouch.get(uid);
    if (s === undefined) s = new Stream(`${this.#genPrefix}${(this.#gens++).toString(36)}`);
    else this.#byTouch.delete(uid);
    this.#byTouch.set(uid, s);
    s.touched = now;
    return s;
  }

  #epochOf(s: Stream): string {
    return (s.epoch ??= `${this.#epochBase}.${s.gen}`);
  }

  /** Appends `events` for `target` at time `now`; returns them with their positions. */
  append(target: SendTarget, events: readonly ChskEvent[], now: number): LoggedEvent[] {
    this.#expire(now);
    const clientId = target.kind === 'client' ? target.clientId : undefined;
    const streamName = target.kind === 'all' ? 'g' : 'u';
    const s = target.kind === 'all' ? this.#broadcast : this.#streamOf(target.uid, now);
    if (target.kind !== 'all') {
      this.#byAppend.delete(target.uid);
      this.#byAppend.set(target.uid, s);
    }
    s.expireBefore(now - this.#bounds.maxAgeMs);
    this.logged += events.length;
    return events.map((event) => {
      const seq = ++s.seq;
      const order = this.#order++;
      s.append(clientId === undefined ? { seq, event, order, at: now } : { seq, event, clientId, order, at: now }, this.#bounds.maxEvents);
      if (streamName === 'g') return { event, stream: streamName, seq };
      const epoch = this.#epochOf(s);
      return clientId === undefined ? { event, stream: streamName, seq, epoch } : { event, stream: streamName, seq, clientId, epoch };
    });
  }

  history(uid: Uid, clientId: string, fromArg: Position, limit: number, now: number): HistoryPage {
    const from = validPosition(fromArg);
    this.#expire(now);
    const s = this.#streamOf(uid, now);
    s.expireBefore(now - this.#bounds.maxAgeMs);
    return buildPage(this.#epochOf(s), clientId, from, validLimit(limit), s.slice(from.u), this.#broadcast.slice(from.g));
  }

  head(uid: Uid, now: number): Position {
    this.#expire(now);
    const s = this.#streamOf(uid, now);
    return { epoch: this.#epochOf(s), u: s.seq, g: this.#broadcast.seq };
  }

  clear(): void {
    this.#byTouch.clear();
    this.#byAppend.clear();
    this.#appendsLiveUntil = this.#touchesLiveUntil = -Infinity;
  }
}
