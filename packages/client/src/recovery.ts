/**
 * The client's side of recovery (PROTOCOL.md §11): remembers where it stands in the server's log
 * (the last sequence received per stream, and the log's epoch), presents that on every WebSocket
 * connect and Ajax poll (`pos`), drops the events it already has when a replay and a live
 * delivery overlap, and reads `recovered` from the handshake.
 *
 * Against a server without recovery nothing changes: such a server ignores `pos`, its handshakes
 * carry no recovery element and its batches no `chsk/pos` entry, so every event is delivered as is.
 */
import {
  type ChskEvent,
  type HandshakeRecovery,
  type Logger,
  type Position,
  positionQueryValue,
  readPositionCodes,
} from '@sente-rx/core';

export interface RecoveryTracker {
  /** The position to present (`undefined` before the first handshake of a recovery server). */
  readonly position: Position | undefined;
  /** The `pos` query value: `''` (supported, no position yet) or `<epoch>.<u>.<g>`. */
  queryValue(): string;
  /**
   * A handshake arrived: adopt the server's position (the events after it follow) and return
   * `recovered` (absent on a first connect, or from a server without recovery).
   */
  onHandshake(recovery: HandshakeRecovery | undefined): boolean | undefined;
  /** A push batch: its entries without the `chsk/pos` marker and without the ones already received, advancing the position. */
  filter(events: readonly ChskEvent[]): readonly ChskEvent[];
}

export function createRecoveryTracker(logger: Logger): RecoveryTracker {
  return new Tracker(logger);
}

/**
 * A class with the batch filter on its prototype: a push batch touches this object and its
 * position, not a closure and its context besides (what one frame touches of a client counts when
 * many clients share a process and take turns; see the bench's client-cost `--block`). `position`
 * is a getter on the prototype, not an object literal's closure getter (which V8 keeps in
 * dictionary mode).
 */
class Tracker implements RecoveryTracker {
  private current: Position | undefined = undefined;
  constructor(private readonly logger: Logger) {}

  get position(): Position | undefined {
    return this.current;
  }

  /** Detached (the transports call it as a plain function), so an arrow property. */
  readonly queryValue = (): string => positionQueryValue(this.current);

  onHandshake(recovery: HandshakeRecovery | undefined): boolean | undefined {
    if (recovery === undefined) return undefined;
    this.current = recovery.position;
    return recovery.recovered;
  }

  filter(events: readonly ChskEvent[]): readonly ChskEvent[] {
    const batch = readPositionCodes(events);
    if (batch === undefined) return events;
    const logger = this.logger;
    if ('malformed' in batch) {
      logger.warn('sente-rx: ignored a malformed chsk/pos entry; delivering the batch as is', { reason: batch.malformed });
      return batch.events;
    }
    // One pass over the codes, with no object per entry (this runs on every push batch): an entry
    // is new when it is not in the log (code 0) or lies past what its stream has seen.
    const { epoch, codes, events: rest } = batch;
    const cur = this.current;
    // The log replaced under a live connection (Redis flushed, a uid log expired) starts over in
    // the new epoch; a later reconnect then finds out whether anything is missing.
    const same = cur !== undefined && cur.epoch === epoch;
    let u = same ? cur.u : 0;
    let g = same ? cur.g : 0;
    let moved = false; // an entry in the log was seen
    /** The entries kept, once one is dropped (until then: all of `rest` so far). */
    let out: ChskEvent[] | null = null;
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i] as number;
      let fresh = true;
      if (c !== 0) {
        moved = true;
        if (c > 0) {
          if (c <= u) fresh = false;
          else u = c;
        } else if (-c <= g) fresh = false;
        else g = -c;
      }
      if (!fresh) out ??= rest.slice(0, i);
      else if (out !== null) out.push(rest[i] as ChskEvent);
    }
    if (moved && !(same && u === cur.u && g === cur.g)) {
      if (cur !== undefined && !same) logger.info('sente-rx: the server log changed epoch during a connection', { from: cur.epoch, to: epoch });
      this.current = { epoch, u, g };
    }
    if (out === null) return rest;
    logger.debug('sente-rx: dropped events already received (replay and live delivery overlapped)', { dropped: rest.length - out.length });
    return out;
  }
}
