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
  type EventPosition,
  type HandshakeRecovery,
  type Logger,
  type Position,
  positionQueryValue,
  readPositionMarker,
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
  let position: Position | undefined;

  /** Whether an entry at `p` is new; advances the position past it. */
  const admit = (epoch: string, p: EventPosition): boolean => {
    if (p.seq === 0) return true; // not in the log: delivered once by construction
    let cur = position;
    if (cur === undefined || cur.epoch !== epoch) {
      // The log was replaced under a live connection (Redis flushed, a uid log expired): start over
      // in the new epoch. A later reconnect then finds out whether anything is missing.
      if (cur !== undefined) logger.info('sente-rx: the server log changed epoch during a connection', { from: cur.epoch, to: epoch });
      cur = { epoch, u: 0, g: 0 };
    }
    const seen = p.stream === 'u' ? cur.u : cur.g;
    if (p.seq <= seen) {
      position = cur;
      return false;
    }
    position = p.stream === 'u' ? { epoch, u: p.seq, g: cur.g } : { epoch, u: cur.u, g: p.seq };
    return true;
  };

  return new Tracker(
    () => position,
    () => positionQueryValue(position),
    (recovery) => {
      if (recovery === undefined) return undefined;
      position = recovery.position;
      return recovery.recovered;
    },
    (events) => {
      const batch = readPositionMarker(events);
      if (batch === undefined) return events;
      if ('malformed' in batch) {
        logger.warn('sente-rx: ignored a malformed chsk/pos entry; delivering the batch as is', { reason: batch.malformed });
        return batch.events;
      }
      const out: ChskEvent[] = [];
      let dropped = 0;
      batch.events.forEach((ev, i) => {
        const p = batch.positions[i];
        if (p === undefined || admit(batch.epoch, p)) out.push(ev);
        else dropped++;
      });
      if (dropped > 0) logger.debug('sente-rx: dropped events already received (replay and live delivery overlapped)', { dropped });
      return out;
    },
  );
}

/** A class, so `position` is a getter on the prototype: V8 keeps an object literal with a closure getter in dictionary mode, and `filter` runs on every push batch. */
class Tracker implements RecoveryTracker {
  constructor(
    private readonly current: () => Position | undefined,
    readonly queryValue: RecoveryTracker['queryValue'],
    readonly onHandshake: RecoveryTracker['onHandshake'],
    readonly filter: RecoveryTracker['filter'],
  ) {}
  get position(): Position | undefined {
    return this.current();
  }
}
