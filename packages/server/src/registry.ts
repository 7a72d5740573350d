/**
 * Connections per transport, uid and client id (Sente's `conns_`), their grace periods, and the
 * connected uids (presence) derived from them.
 */
import { type ChskEvent, ReservedId, type Uid } from '@sente-rx/core';
import { type Subscription, timer } from 'rxjs';
import { type Broker, EMPTY_UIDS } from './broker.js';
import type { ServerChan, SharedContext } from './channel.js';
import type { ConnectedUids, RequestInfo } from './types.js';

export type ConnType = 'ws' | 'ajax';
export const CONN_TYPES: readonly ConnType[] = ['ws', 'ajax'];

/** One client (client id) on one transport: Sente's `conns_` entry `[?sch udt conn-id]`. */
export class Conn {
  /** The open WebSocket or the held poll; `null` between polls and during the grace period. */
  ch: ServerChan | null = null;
  /** Ajax: has polled at least once, so the uid counts as connected. WebSocket: always. */
  polled: boolean;
  /** Events waiting for a channel (between polls, or while reconnecting within the grace period). */
  pending: ChskEvent[] | null = null;
  graceTimer: Subscription | null = null;

  constructor(
    readonly type: ConnType,
    readonly uid: Uid,
    readonly clientId: string,
    public request: RequestInfo,
  ) {
    this.polled = type === 'ws';
  }
}

const toggle = (set: ReadonlySet<Uid>, uid: Uid, on: boolean): ReadonlySet<Uid> => {
  if (set.has(uid) === on) return set;
  const copy = new Set(set);
  if (on) copy.add(uid);
  else copy.delete(uid);
  return copy;
};

export class Registry {
  private readonly conns = { ws: new Map<Uid, Map<string, Conn>>(), ajax: new Map<Uid, Map<string, Conn>>() };
  private local: ConnectedUids = EMPTY_UIDS;

  constructor(
    private readonly ctx: SharedContext,
    private readonly broker: Broker,
  ) {}

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

  register(conn: Conn): void {
    let byClient = this.conns[conn.type].get(conn.uid);
    if (byClient === undefined) this.conns[conn.type].set(conn.uid, (byClient = new Map()));
    byClient.set(conn.clientId, conn);
  }

  /** `ch` ended (a poll answered or abandoned, a socket closed): if it was `conn`'s channel, the grace period starts. */
  channelEnded(conn: Conn, ch: ServerChan): void {
    if (conn.ch !== ch) return;
    conn.ch = null;
    this.startGrace(conn);
  }

  stopGrace(conn: Conn): void {
    conn.graceTimer?.unsubscribe();
    conn.graceTimer = null;
  }

  /** After the grace period with no new channel, the client is gone (Sente §4.7). */
  startGrace(conn: Conn): void {
    if (this.ctx.closing) return;
    conn.graceTimer?.unsubscribe();
    conn.graceTimer = timer(this.ctx.options.reconnectGraceMs[conn.type], this.ctx.scheduler).subscribe(() => {
      conn.graceTimer = null;
      const byClient = this.conns[conn.type].get(conn.uid);
      if (byClient?.get(conn.clientId) !== conn || conn.ch !== null) return;
      byClient.delete(conn.clientId);
      if (byClient.size === 0) this.conns[conn.type].delete(conn.uid);
      if (conn.pending !== null) {
        this.ctx.logger.warn('sente-rx: dropped events for a client that did not come back within the grace period', {
          clientId: conn.clientId,
          uid: conn.uid,
          dropped: conn.pending.length,
        });
      }
      this.updatePresence(conn.uid, conn);
    });
  }

  /** Recomputes whether `uid` is connected; on a change, tells the broker and emits uidport-open/close. */
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
    const was = this.local;
    const wasWs = was.ws.has(uid);
    const wasAjax = was.ajax.has(uid);
    if (wasWs === ws && wasAjax === ajax) return;
    this.local = { ws: toggle(was.ws, uid, ws), ajax: toggle(was.ajax, uid, ajax), any: toggle(was.any, uid, ws || ajax) };
    this.broker.setPresence(this.local);
    const wasAny = wasWs || wasAjax;
    const isAny = ws || ajax;
    if (!wasAny && isAny) this.ctx.emit(conn, [ReservedId.UIDPORT_OPEN, uid], conn.request);
    else if (wasAny && !isAny) this.ctx.emit(conn, [ReservedId.UIDPORT_CLOSE, uid], conn.request);
  }

  /** Ends every channel with `code`/`reason` and forgets every connection (server close). */
  closeAll(code: number, reason: string): void {
    for (const type of CONN_TYPES) {
      for (const c of this.all(type)) {
        this.stopGrace(c);
        const ch = c.ch;
        c.ch = null; // first, so the channel's end does not start a grace period
        ch?.close(code, reason);
      }
      this.conns[type].clear();
    }
    this.local = EMPTY_UIDS;
  }
}
