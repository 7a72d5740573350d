/**
 * The server's side of recovery (PROTOCOL.md §11, issue 13): where a client starts after a connect,
 * reconnect or Ajax poll that presented a position, and which events it gets, in order, once.
 *
 * The broker keeps a bounded log per uid plus one for broadcasts (`history`, `head`, `settled`).
 * This module is pure planning plus one async read; the sessions hook it in like this:
 *
 * 1. The connection is registered with NO channel (so the broker routes its uid here and every
 *    live delivery for it lands in its pending queue, with its position: that queue is the hold);
 * 2. `readStart()` awaits `settled()` (interest effective: nothing published from now on can be
 *    missed), then reads the log after the client's position (or the head, on a first connect);
 * 3. `planStart()` merges the replay with the pending queue: log events the queue does not hold
 *    come first (they are older: the queue is a suffix of this node's deliveries), then the queue,
 *    minus what the client already has (seq ≤ its position). So a replay and a live delivery that
 *    overlap are sent once, and nothing published during the async read is lost or reordered;
 * 4. the session sends the handshake (with the recovery element), then the planned batch, and only
 *    then gives the connection its channel: live deliveries flow again, after the replay.
 *
 * When the log cannot fill the gap (trimmed, expired, another epoch, a malformed position), the
 * client starts at the head with `recovered: false`; a first connect (`pos=`) starts at the head
 * with no `recovered`. In both cases, events already held for the connection are still delivered:
 * the start position is lowered to just before the first of them. A position of a replaced log
 * (another epoch) is a gap too, but when the new log still holds everything since it began the
 * client starts there (`recovered: false`) and gets all of it: nothing the new log kept is skipped.
 *
 * Ajax (no sticky sessions): every poll carries the client's position, so any node can answer it
 * from the log (`planPoll`), even one that never saw the client; a node's own pending queue is
 * only merged in, never trusted alone, except by the node whose own answers brought the client to
 * the position it presents (`AjaxSessions.resumes`): that poll is served from the queue.
 */
import {
  type ChskEvent,
  type EventPosition,
  type HandshakeRecovery,
  type Position,
  positionMarker,
  type PositionQuery,
} from '@sente-rx/core';
import { startInReplacedLog } from './log.js';

/** One event as the log and the pending queues hold it (`seq` 0: not in the log). */
export interface LogEntry extends EventPosition {
  readonly event: ChskEvent;
}

/** The part of the broker recovery reads (the in-memory broker and `redisBroker` both have it). */
export interface RecoveryLog {
  history(uid: string, clientId: string, from: Position, limit: number): Promise<{ readonly events: readonly LogEntry[]; readonly complete: boolean; readonly position: Position }>;
  head(uid: string): Promise<Position>;
  settled(): Promise<void>;
}

/** The server option `recovery` (name pinned). */
export interface ServerRecoveryOptions {
  /** Events kept per stream (each uid's log, and the broadcast log). @default 1_000 */
  readonly maxEvents?: number;
  /** Events older than this are never replayed; a log with no append for this long is freed. @default 120_000 (2 min) */
  readonly maxAgeMs?: number;
}

export interface RecoveryBounds {
  readonly maxEvents: number;
  readonly maxAgeMs: number;
}

/**
 * On by default: a reconnect after a tunnel, a sleep or a deploy within two minutes loses nothing,
 * and the cost is bounded (see PROTOCOL.md §11.6 for the memory figures). `false` turns it off:
 * no log, no positions on the wire, clients get no `recovered`.
 */
export const DEFAULT_RECOVERY: RecoveryBounds = Object.freeze({ maxEvents: 1_000, maxAgeMs: 120_000 });

/** Validates the option (TypeError naming the field); `undefined` = off. */
export function resolveRecoveryOption(o: ServerRecoveryOptions | false | undefined): RecoveryBounds | undefined {
  if (o === false) return undefined;
  if (o !== undefined && (typeof o !== 'object' || o === null)) throw new TypeError(`recovery must be { maxEvents?, maxAgeMs? } or false, got ${String(o)}`);
  const maxEvents = o?.maxEvents ?? DEFAULT_RECOVERY.maxEvents;
  const maxAgeMs = o?.maxAgeMs ?? DEFAULT_RECOVERY.maxAgeMs;
  for (const [k, v] of [['maxEvents', maxEvents], ['maxAgeMs', maxAgeMs]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`recovery.${k} must be a positive integer, got ${String(v)}`);
  }
  return { maxEvents, maxAgeMs };
}

/** Events per history() call. */
export const PAGE = 500;
/** Pages read at most for one start; past this the gap counts as unfillable (bounds one read). */
export const MAX_PAGES = 20;

/** What the log says about a client's start: everything after its position, or where the head is. */
export interface LogRead {
  /** True when `events` is everything after the client's position. */
  readonly complete: boolean;
  readonly events: readonly LogEntry[];
  /** The head (where a client that saw everything stands). */
  readonly head: Position;
  /**
   * When the client's position could not be resumed (or it had none) but the log could be read
   * from a start before it: `events` are everything after `start`. That start is, first, where the
   * client stands in a REPLACED log (another epoch: 0 in each replaced stream, `startInReplacedLog`),
   * when the new log still holds everything from there; else the `base` the caller took before
   * registering the connection. So the start precedes the registration and nothing sent to the
   * client from then on is behind it.
   */
  readonly start?: Position;
}

async function readAll(log: RecoveryLog, uid: string, clientId: string, from: Position): Promise<{ readonly complete: boolean; readonly events: LogEntry[]; readonly head: Position }> {
  const events: LogEntry[] = [];
  let at = from;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const page = await log.history(uid, clientId, at, PAGE);
    if (!page.complete) return { complete: false, events: [], head: page.position };
    for (const e of page.events) events.push(e);
    at = page.position;
    if (page.events.length < PAGE) return { complete: true, events, head: page.position };
  }
  return { complete: false, events: [], head: await log.head(uid) };
}

/**
 * Reads the log for a client that presented `q` (never `absent`). Awaits `settled()` first, so the
 * caller must have registered the connection (interest) before calling. Rejects only when the
 * log's store is unreachable; the caller then treats the client as a gap.
 */
export async function readStart(log: RecoveryLog, uid: string, clientId: string, q: Exclude<PositionQuery, { kind: 'absent' }>, base?: Position): Promise<LogRead> {
  await log.settled();
  if (q.kind === 'position') {
    const r = await readAll(log, uid, clientId, q.position);
    if (r.complete) return r;
    // The client's log was replaced (another epoch): what the new one holds from its start is still
    // owed, e.g. the very event that revealed the new log (4001 log-reset) and those after it.
    const fresh = startInReplacedLog(q.position, r.head);
    if (fresh !== undefined) {
      const f = await readAll(log, uid, clientId, fresh);
      if (f.complete) return { complete: false, events: f.events, head: f.head, start: fresh };
    }
  }
  if (base !== undefined) {
    const r = await readAll(log, uid, clientId, base);
    if (r.complete) return { complete: false, events: r.events, head: r.head, start: base };
  }
  return { complete: false, events: [], head: await log.head(uid) };
}

/** What a connect needs of its session (see `runStart`). */
export interface StartHooks {
  /** Registers the connection with no channel (interest on); false when the session went away meanwhile. */
  register(): boolean;
  /** Whether the session still wants the plan (open, not replaced). */
  current(): boolean;
  /** The entries held for the connection so far. */
  pending(): readonly LogEntry[];
  /** Sends the plan and opens the channel; runs synchronously right after the plan is made. */
  apply(plan: StartPlan): void;
  /** The log could not be read (or a hook threw). */
  failed(err: unknown): void;
}

/**
 * A connect (WebSocket open, Ajax handshake) of a client that presented `q`: reads the head first,
 * registers the connection, reads the log (from the client's position, else from that head), and
 * applies the plan in the same synchronous step as it is made. Never rejects.
 */
export function runStart(log: RecoveryLog, uid: string, clientId: string, q: Exclude<PositionQuery, { kind: 'absent' }>, h: StartHooks): void {
  const read = async (): Promise<LogRead | undefined> => {
    // A head that cannot be read (the store unreachable) is no start base; the connection is still
    // registered first, so the read below fails with it registered and `failed` is reported.
    const base = await log.head(uid).catch(() => undefined);
    if (!h.register()) return undefined;
    return readStart(log, uid, clientId, q, base);
  };
  read().then(
    (r) => {
      if (r === undefined || !h.current()) return;
      let plan: StartPlan;
      try {
        plan = planStart(q, r, h.pending());
      } catch (err) {
        h.failed(err);
        return;
      }
      h.apply(plan);
    },
    (err: unknown) => {
      if (h.current()) h.failed(err);
    },
  ).catch((err: unknown) => h.failed(err));
}

const seen = (p: Position, e: EventPosition): number => (e.stream === 'u' ? p.u : p.g);
const key = (e: EventPosition): string => `${e.stream}${e.seq}`;

/**
 * The events a client gets after `from`: the log's (in log order: the replay reaches the head at
 * the time of the read), then the queue's logged entries that are newer than the read (published
 * after it), each once, minus what the client has (seq ≤ from). The log may hold events this node
 * has not delivered yet (a send buffer, a cluster bus), so the queue is never assumed older.
 * Unlogged entries (server→client requests) keep their place after the logged entry that preceded
 * them in the queue (first, when none did).
 */
export function mergeReplay(from: Position, replay: readonly LogEntry[], pending: readonly LogEntry[]): LogEntry[] {
  const inReplay = new Set<string>();
  for (const e of replay) inReplay.add(key(e));
  const lead: LogEntry[] = [];
  const followers = new Map<string, LogEntry[]>();
  const tail: LogEntry[] = [];
  let anchor: string | undefined;
  for (const e of pending) {
    if (e.seq === 0) {
      if (anchor === undefined) lead.push(e);
      else {
        let f = followers.get(anchor);
        if (f === undefined) followers.set(anchor, (f = []));
        f.push(e);
      }
    } else if (e.seq <= seen(from, e)) anchor = undefined; // the client has it: what follows it comes first
    else {
      anchor = key(e);
      if (!inReplay.has(anchor)) tail.push(e);
    }
  }
  const out = lead;
  const put = (e: LogEntry): void => {
    out.push(e);
    for (const f of followers.get(key(e)) ?? []) out.push(f);
  };
  for (const e of replay) if (e.seq > seen(from, e)) put(e);
  for (const e of tail) put(e);
  return out;
}

/** `head`, lowered per stream to just before the first held event at or below it, so the held events are all new to the client. */
export function startBefore(head: Position, pending: readonly LogEntry[]): Position {
  let { u, g } = head;
  for (const e of pending) {
    if (e.seq === 0) continue;
    if (e.stream === 'u' && e.seq <= u) u = e.seq - 1;
    else if (e.stream === 'g' && e.seq <= g) g = e.seq - 1;
  }
  return u === head.u && g === head.g ? head : { epoch: head.epoch, u, g };
}

/** What a connecting client gets: the handshake's recovery element, then these entries. */
export interface StartPlan {
  readonly recovery: HandshakeRecovery;
  readonly entries: readonly LogEntry[];
}

/** Plans the start of a client that presented `q`, given the log read and the entries held for it meanwhile. */
export function planStart(q: Exclude<PositionQuery, { kind: 'absent' }>, read: LogRead, pending: readonly LogEntry[]): StartPlan {
  if (q.kind === 'position' && read.complete) {
    return { recovery: { position: q.position, recovered: true }, entries: mergeReplay(q.position, read.events, pending) };
  }
  if (read.start !== undefined) {
    const position = read.start;
    return { recovery: q.kind === 'none' ? { position } : { position, recovered: false }, entries: mergeReplay(position, read.events, pending) };
  }
  // The held entries the client already has (it said so: its position, in this epoch) are not sent
  // again, nor do they lower its start: the queue of a reconnect can hold events a previous start's
  // replay delivered before they arrived live.
  const has = q.kind === 'position' && q.position.epoch === read.head.epoch ? q.position : undefined;
  const held = has === undefined ? pending.slice() : pending.filter((e) => e.seq === 0 || e.seq > seen(has, e));
  const position = startBefore(read.head, held);
  const recovery: HandshakeRecovery = q.kind === 'none' ? { position } : { position, recovered: false };
  return { recovery, entries: held };
}

/** An Ajax poll that presented a position: answer with `entries` (none: hold the poll), or with a handshake when the log has a gap. */
export type PollPlan = { readonly kind: 'events'; readonly entries: readonly LogEntry[] } | { readonly kind: 'gap'; readonly recovery: HandshakeRecovery };

export function planPoll(from: Position, read: LogRead, pending: readonly LogEntry[]): PollPlan {
  // At the head itself, never lowered for held entries: a start below the log's floor would be a
  // gap again on the next poll, and the client would loop. Held entries behind it are covered by the gap.
  // A replaced log read from its start (`read.start`): the client polls on from there and gets it.
  if (!read.complete) return { kind: 'gap', recovery: { position: read.start ?? read.head, recovered: false } };
  return { kind: 'events', entries: mergeReplay(from, read.events, pending) };
}

/**
 * The batch for a recovery client: a `chsk/pos` marker first when any entry is in the log (a
 * batch of unlogged entries needs none), then the events.
 */
export function positionedBatch(epoch: string, entries: readonly LogEntry[]): ChskEvent[] {
  const events = entries.map((e) => e.event);
  return entries.some((e) => e.seq > 0) ? [positionMarker(epoch, entries), ...events] : events;
}

/** The position a client holds after receiving `entries` from `start`. */
export function advance(start: Position, entries: readonly LogEntry[]): Position {
  let { u, g } = start;
  for (const e of entries) {
    if (e.stream === 'u' && e.seq > u) u = e.seq;
    else if (e.stream === 'g' && e.seq > g) g = e.seq;
  }
  return u === start.u && g === start.g ? start : { epoch: start.epoch, u, g };
}
