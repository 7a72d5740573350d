/**
 * Positions on the wire (PROTOCOL.md §11, "Recovery"): how a client says where it stands in the
 * server's event log, how a push batch says where each of its events sits, and the recovery part
 * of the handshake. Pure codecs, shared by the client and the server; nothing here does IO.
 *
 * Everything here is sent only to a client that announced support (the `pos` query parameter), so
 * a client or a server without recovery never sees any of it.
 */
import type { ChskEvent } from './event.js';

/** Where a client stands in the log: the last sequence it saw in its uid's stream and in the broadcast stream. */
export interface Position {
  /** The generation of the logs behind `u` and `g`; opaque, compared for equality. Never empty. */
  readonly epoch: string;
  /** Last sequence seen in the uid's stream (0 = none). */
  readonly u: number;
  /** Last sequence seen in the broadcast stream (0 = none). */
  readonly g: number;
}

/** Where one pushed event sits: its stream and sequence (`seq` 0 = not in the log). */
export interface EventPosition {
  readonly stream: 'u' | 'g';
  readonly seq: number;
}

/** The reserved batch entry that carries the positions of the entries after it. */
export const POS_ID = 'chsk/pos';
/** The reserved last element of a handshake that carries the recovery outcome. */
export const RECOVERY_ID = 'chsk/recovery';
/** Longest epoch accepted from the wire. */
export const MAX_EPOCH_LENGTH = 128;

const isSeq = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isEpoch = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= MAX_EPOCH_LENGTH;

// ---- one position as text: `<epoch>.<u>.<g>` ---------------------------------------------------

/** `<epoch>.<u>.<g>`, decimal sequences. The epoch may itself contain dots: the two numbers are read from the right. */
export function encodePosition(p: Position): string {
  return `${p.epoch}.${p.u}.${p.g}`;
}

const DIGITS = /^(0|[1-9][0-9]{0,15})$/;

/** The position in `s`, or `undefined` when `s` is not one (never throws). */
export function decodePosition(s: unknown): Position | undefined {
  if (typeof s !== 'string') return undefined;
  const j = s.lastIndexOf('.');
  const i = j > 0 ? s.lastIndexOf('.', j - 1) : -1;
  if (i <= 0) return undefined;
  const epoch = s.slice(0, i);
  const u = s.slice(i + 1, j);
  const g = s.slice(j + 1);
  if (!isEpoch(epoch) || !DIGITS.test(u) || !DIGITS.test(g)) return undefined;
  const p = { epoch, u: Number(u), g: Number(g) };
  return isSeq(p.u) && isSeq(p.g) ? p : undefined;
}

/**
 * What a client's `pos` query parameter says: `absent` (no recovery support: the server sends it
 * no positions), `none` (`pos=`: supported, no position yet), a `position`, or `invalid` (a value
 * that does not decode: supported, but the position is unknown).
 */
export type PositionQuery =
  | { readonly kind: 'absent' }
  | { readonly kind: 'none' }
  | { readonly kind: 'position'; readonly position: Position }
  | { readonly kind: 'invalid' };

export function readPositionQuery(value: string | null | undefined): PositionQuery {
  if (value === null || value === undefined) return { kind: 'absent' };
  if (value === '') return { kind: 'none' };
  const position = decodePosition(value);
  return position === undefined ? { kind: 'invalid' } : { kind: 'position', position };
}

/** The `pos` query value for a client holding `p` (or nothing yet). */
export const positionQueryValue = (p: Position | undefined): string => (p === undefined ? '' : encodePosition(p));

// ---- per-event positions in a push batch -------------------------------------------------------

/**
 * One code per entry: `+seq` for the uid stream, `-seq` for the broadcast stream, `0` for an
 * entry that is not in the log (a server→client request, contract issues, recovery off).
 */
const codeOf = (p: EventPosition): number => (p.seq === 0 ? 0 : p.stream === 'u' ? p.seq : -p.seq);

/**
 * The marker entry for a batch whose entries sit at `positions` (same order, same length):
 * `["chsk/pos", [epoch, item, …]]`, an item being a code, or `[code, n]` for a run of `n` entries
 * whose codes continue the stream one by one (`c, c+1, …` for the uid stream, `c, c-1, …` for
 * broadcasts, `0, 0, …` for unlogged entries). Runs of 3 or more are compressed, so a batch of
 * consecutive events costs a few bytes whatever its length.
 */
export function positionMarker(epoch: string, positions: readonly EventPosition[]): ChskEvent {
  const items: (number | [number, number])[] = [];
  let i = 0;
  while (i < positions.length) {
    const c = codeOf(positions[i] as EventPosition);
    const step = Math.sign(c);
    let n = 1;
    while (i + n < positions.length && codeOf(positions[i + n] as EventPosition) === c + step * n) n++;
    if (n >= 3) {
      items.push([c, n]);
      i += n;
    } else {
      items.push(c);
      i++;
    }
  }
  return [POS_ID, [epoch, ...items]];
}

/** A batch split into its marker's positions and its entries. */
export interface PositionedBatch {
  readonly epoch: string;
  /** One per entry; `seq` 0 for an entry not in the log. */
  readonly positions: readonly EventPosition[];
  /** The entries after the marker. */
  readonly events: readonly ChskEvent[];
}

/** A batch split into its marker's codes (one per entry: `+seq` uid stream, `-seq` broadcasts, `0` not in the log) and its entries. */
export interface CodedBatch {
  readonly epoch: string;
  readonly codes: readonly number[];
  /** The entries after the marker. */
  readonly events: readonly ChskEvent[];
}

/** What a marker that does not describe the rest of its batch reads as: why, and the entries after it. */
export interface MalformedMarker {
  readonly malformed: string;
  readonly events: readonly ChskEvent[];
}

/**
 * Reads a batch's marker as one code per entry (see `positionMarker`), with no object per entry:
 * the client reads every push batch so. `undefined` when the batch has none (a server without
 * recovery, or a batch of unlogged entries). `{ malformed }` when the first entry is a marker
 * that does not describe the rest (the caller delivers the entries as unpositioned and logs it).
 */
export function readPositionCodes(events: readonly ChskEvent[]): CodedBatch | MalformedMarker | undefined {
  const first = events[0];
  if (first === undefined || first[0] !== POS_ID) return undefined;
  const rest = events.slice(1);
  const data: unknown = first[1];
  if (!Array.isArray(data) || !isEpoch(data[0])) return { malformed: 'the chsk/pos entry must be [epoch, code…]', events: rest };
  const codes: number[] = [];
  for (let k = 1; k < data.length; k++) {
    const item: unknown = data[k];
    let c: unknown = item;
    let n: unknown = 1;
    if (Array.isArray(item)) [c, n] = item as unknown[];
    if (typeof c !== 'number' || !Number.isSafeInteger(c) || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || codes.length + n > rest.length) {
      return { malformed: 'a chsk/pos code is not an integer, or the codes outnumber the entries', events: rest };
    }
    const step = Math.sign(c);
    for (let m = 0; m < n; m++) codes.push(c + step * m);
  }
  if (codes.length !== rest.length) return { malformed: 'the chsk/pos codes do not match the entries', events: rest };
  return { epoch: data[0], codes, events: rest };
}

/** `readPositionCodes` with each code as an `EventPosition`. */
export function readPositionMarker(events: readonly ChskEvent[]): PositionedBatch | MalformedMarker | undefined {
  const batch = readPositionCodes(events);
  if (batch === undefined || 'malformed' in batch) return batch;
  const positions = batch.codes.map((code): EventPosition => (code >= 0 ? { stream: 'u', seq: code } : { stream: 'g', seq: -code }));
  return { epoch: batch.epoch, positions, events: batch.events };
}

// ---- the handshake's recovery element ----------------------------------------------------------

/** What a handshake tells a client that announced recovery support. */
export interface HandshakeRecovery {
  /** Where the client stands now: the events after it follow in order. */
  readonly position: Position;
  /**
   * Only when the client presented a position: `true` when every event after it follows, `false`
   * when the log could not fill the gap (the client should refetch its state).
   */
  readonly recovered?: boolean;
}

/** The handshake's optional LAST element: `["chsk/recovery", { pos, recovered? }]`. */
export function recoveryElement(r: HandshakeRecovery): ChskEvent {
  const data: Record<string, unknown> = { pos: encodePosition(r.position) };
  if (r.recovered !== undefined) data.recovered = r.recovered;
  return [RECOVERY_ID, data];
}

/**
 * Splits a handshake's data array into its layout part and its recovery element. The element is
 * recognised only as the 5th and last element, after a boolean `first`, in the form
 * `["chsk/recovery", {…}]` (`[uid, null, handshakeData, first, element]`), so handshake data can
 * never be mistaken for it.
 */
export function splitHandshakeRecovery(hs: readonly unknown[]): { readonly rest: readonly unknown[]; readonly recovery?: HandshakeRecovery } {
  const last: unknown = hs[4];
  if (hs.length !== 5 || typeof hs[3] !== 'boolean' || !Array.isArray(last) || last[0] !== RECOVERY_ID) return { rest: hs };
  const rest = hs.slice(0, -1);
  const data: unknown = last[1];
  if (typeof data !== 'object' || data === null) return { rest };
  const { pos, recovered } = data as Record<string, unknown>;
  const position = decodePosition(pos);
  if (position === undefined) return { rest };
  return typeof recovered === 'boolean' ? { rest, recovery: { position, recovered } } : { rest, recovery: { position } };
}
