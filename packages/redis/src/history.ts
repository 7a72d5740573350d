import type { ChskEvent } from '@sente-rx/core';
import type { HistoryPage, LoggedEvent, Position } from './contract.js';

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
