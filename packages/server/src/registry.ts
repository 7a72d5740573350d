/**
 * Connections per transport, uid and client id (Sente's `conns_`), their grace periods, and the
 * connected uids (presence) derived from them.
 */
import type { Position, Uid } from '@sente-rx/core';
import type { Broker } from './broker.js';
import type { ServerChan, SharedContext } from './channel.js';
import { Deadline, DeadlineQueue } from './deadlines.js';
import type { Buffered } from './outbox.js';
import type { RequestInfo } from './types.js';

export type ConnType = 'ws' | 'ajax';
export const CONN_TYPES: readonly ConnType[] = ['ws', 'ajax'];

/** One client (client id) on one transport: Sente's `conns_` entry `[?sch udt conn-id]`. */
export class Conn {
  /** The open WebSocket or the held poll; `null` between polls and during the grace period. */
  ch: ServerChan | null = null;
  /** Ajax: has polled at least once, so the uid counts as connected. WebSocket: always. */
  polled: boolean;
  /** Events waiting for a channel (between polls, while reconnecting within the grace period, or while a recovery start reads the log). */
  pending: Buffered[] | null = null;
  /** Recovery (PROTOCOL.md §11): the log epoch of a client that announced support, so its batches carry positions; `null` for any other. */
  epoch: string | null = null;
  /** Ajax recovery: the position this node's answers brought the client to (`null`: unknown, the next poll reads the log). */
  lpPos: Position | null = null;
  /**
   * Its grace period, pending between channels (one action serves every connection's:
   * deadlines.ts); made at its first grace period, so an idle WebSocket does not carry one.
   */
  grace: Deadline<Conn> | null = null;

  constructor(
    readonly type: ConnType,
    readonly uid: Uid,
    readonly clientId: string,
    public request: RequestInfo,
  ) {
    this.polled = type === 'ws';
  }
}

/** This node's holding of one uid, as last told to the broker. */
interface Held {
  ws: boolean;
  ajax: boolean;
  /** The connection that last changed it: the origin of the uid's `chsk/uidport-*` event-msg. */
  conn: Conn;
}

/** Uids that left this node, kept (bounded) so a late `uidport(uid, false)` still has an origin. */
const MAX_LEFT = 10_000;
/** How far `left` may grow past MAX_LEFT before the oldest are evicted together. */
const LEFT_SLACK = 1_000;

export class Registry {
  private readonly conns = { ws: new Map<Uid, Map<string, Conn>>(), ajax: new Map<Uid, Map<string, Conn>>() };
  /** Uids with a connection here, as the broker knows them. */
  private readonly held = new Map<Uid, Held>();
  private readonly left = new Map<Uid, Conn>();
  private readonly graces: DeadlineQueue<Conn>;

  constructor(
    private readonly ctx: SharedContext,
    private readonly broker: Broker,
  ) {
    this.graces = new DeadlineQueue(
      ctx.scheduler,
      (conn) => this.graceEnded(conn),
      (err) => ctx.logger.error('sente-rx: ending a grace period threw', { err }),
    );
  }

  get(type: ConnType, uid: Uid, clientId: string): Conn | undefined {
    return this.conns[type].get(uid)?.get(clientId);
  }

  /** The clients of `uid` on `type`, if it has any. */
  clients(type: ConnType, uid: Uid): ReadonlyMap<string, Conn> | undefined {
    return this.conns[type].get(uid);
  }

  /** Every connection on `type`. */
  *all(type: ConnType): IterableIterator<Conn> {
    for (const byClient of this.conns[type].values()) yield* byClient.values();
  }

  /** Registers `conn` (interest in its uid on); resolves when the broker's interest is live, `undefined` when it already is (broker.ts `interest`). */
  register(conn: Conn): Promise<void> | undefined {
    let byClient = this.conns[conn.type].get(conn.uid);
    if (byClient === undefined) this.conns[conn.type].set(conn.uid, (byClient = new Map()));
    byClient.set(conn.clientId, conn);
    return this.broker.interest?.(conn.uid, true);
  }

  /** `ch` ended (a poll answered or abandoned, a socket closed): if it was `conn`'s channel, the grace period starts. */
  channelEnded(conn: Conn, ch: ServerChan): void {
    if (conn.ch !== ch) return;
    conn.ch = null;
    this.startGrace(conn);
  }

  stopGrace(conn: Conn): void {
    if (conn.grace !== null) this.graces.cancel(conn.grace);
  }

  /** After the grace period with no new channel, the client is gone (Sente §4.7). */
  startGrace(conn: Conn): void {
    if (this.ctx.closing) return;
    this.graces.start((conn.grace ??= new Deadline(conn)), this.ctx.options.reconnectGraceMs[conn.type]);
  }

  private graceEnded(conn: Conn): void {
    const byClient = this.conns[conn.type].get(conn.uid);
    if (byClient?.get(conn.clientId) !== conn || conn.ch !== null) return;
    byClient.delete(conn.clientId);
    if (byClient.size === 0) this.conns[conn.type].delete(conn.uid);
    if (!this.conns.ws.has(conn.uid) && !this.conns.ajax.has(conn.uid)) this.broker.interest?.(conn.uid, false);
    if (!this.holds(conn.uid, conn.clientId)) this.ctx.clientGone(conn.uid, conn.clientId);
    if (conn.pending !== null) {
      // A recovery client loses nothing here: the log holds these for its return (on any node).
      this.ctx.logger[conn.epoch === null ? 'warn' : 'debug']('sente-rx: dropped events for a client that did not come back within the grace period', {
        clientId: conn.clientId,
        uid: conn.uid,
        dropped: conn.pending.length,
      });
    }
    this.updatePresence(conn.uid, conn);
  }

  /** Whether a client id of `uid` has a connection here, on any transport. */
  holds(uid: Uid, clientId: string): boolean {
    return this.conns.ws.get(uid)?.has(clientId) === true || this.conns.ajax.get(uid)?.has(clientId) === true;
  }

  /** The connection to name as the origin of a uidport event for `uid` (`undefined` when this node never held it). */
  originOf(uid: Uid): Conn | undefined {
    return this.held.get(uid)?.conn ?? this.left.get(uid);
  }

  /** Forgets the origin of a uid the cluster reported gone. */
  forgetLeft(uid: Uid): void {
    this.left.delete(uid);
  }

  /** Recomputes whether `uid` is connected here; on a change, tells the broker (O(1)), which fires the uidport edges. */
  updatePresence(uid: Uid, conn: Conn): void {
    if (this.ctx.closing) return;
    const ws = this.conns.ws.has(uid);
    let ajax = false;
    for (const c of this.conns.ajax.get(uid)?.values() ?? []) {
      if (c.polled) {
        ajax = true;
        break;
      }
    }
    const was = this.held.get(uid);
    if ((was?.ws ?? false) === ws && (was?.ajax ?? false) === ajax) return;
    if (ws || ajax) {
      if (was === undefined) this.held.set(uid, { ws, ajax, conn });
      else Object.assign(was, { ws, ajax, conn });
      this.left.delete(uid);
    } else {
      this.held.delete(uid);
      this.left.delete(uid);
      this.left.set(uid, conn);
      // Evict in batches: taking one key off the front of a Map whose front was deleted from walks
      // past every deleted slot (about 12 µs per leave at 10,000), a batch pays that walk once.
      if (this.left.size > MAX_LEFT + LEFT_SLACK) {
        let drop = this.left.size - MAX_LEFT;
        for (const key of this.left.keys()) {
          if (drop-- <= 0) break;
          this.left.delete(key);
        }
      }
    }
    this.broker.localPresence(uid, { ws, ajax });
  }

  /** Ends every channel with `code`/`reason` and forgets every connection (server close). */
  closeAll(code: number, reason: string): void {
    this.graces.close();
    const interest = this.broker.interest === undefined ? [] : [...new Set([...this.conns.ws.keys(), ...this.conns.ajax.keys()])];
    for (const type of CONN_TYPES) {
      for (const c of this.all(type)) {
        const ch = c.ch;
        c.ch = null; // first, so the channel's end does not start a grace period
        ch?.close(code, reason);
      }
      this.conns[type].clear();
    }
    // A cluster broker learns that this node holds nothing any more (the in-memory one is closed next).
    for (const uid of this.held.keys()) this.broker.localPresence(uid, { ws: false, ajax: false });
    for (const uid of interest) this.broker.interest?.(uid, false);
    this.held.clear();
    this.left.clear();
  }

  /** Every connection of `clientId` under `uid` (one per transport at most). */
  *clientConns(uid: Uid, clientId: string): IterableIterator<Conn> {
    for (const type of CONN_TYPES) {
      const c = this.conns[type].get(uid)?.get(clientId);
      if (c !== undefined) yield c;
    }
  }

  /** The uids with a connection on `type`. */
  uids(type: ConnType): IterableIterator<Uid> {
    return this.conns[type].keys();
  }
}
