/**
 * The broker seam (v2): everything a server node sends beyond its own connections goes through
 * it, so a cluster broker (`@sente-rx/redis`) can route sends, broadcasts and server→client
 * requests to whichever node holds the clients, and aggregate presence across nodes.
 *
 * Recovery (a per-user log with positions, `history` / `head`) is not part of this version; it
 * will be added as optional members, so a broker written against this interface keeps compiling.
 */
import { ChskError, type ChskEvent, type Uid } from '@sente-rx/core';
import { asyncScheduler, BehaviorSubject, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { ConnectedUids } from './types.js';

/** Who a publish is for. */
export type SendTarget =
  | { readonly kind: 'uid'; readonly uid: Uid }
  | { readonly kind: 'client'; readonly uid: Uid; readonly clientId: string }
  | { readonly kind: 'all' };

/** One publish, as it reaches a node with interest in its target. */
export interface BrokerMessage {
  readonly target: SendTarget;
  readonly events: readonly ChskEvent[];
  readonly flush: boolean;
}

/** A server→client request, on its way from the asking node to the node(s) holding the uid. */
export interface BrokerRequest {
  /** Unique on the asking node. */
  readonly id: string;
  /** The asking node's `nodeId`. */
  readonly from: string;
  readonly uid: Uid;
  readonly clientId: string;
  readonly event: ChskEvent;
  readonly timeoutMs: number;
}

export type BrokerOutcome =
  | { readonly ok: true; readonly value: unknown }
  | {
      readonly ok: false;
      readonly code: 'chsk/closed' | 'chsk/error' | 'chsk/timeout';
      readonly message: string;
      /** With `'chsk/error'`: what the client said was wrong (validation issues), when it said. */
      readonly issues?: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
    };

/** The outcome of a request, on its way back to the node that asked (`to`). */
export interface BrokerReply {
  readonly id: string;
  readonly to: string;
  readonly outcome: BrokerOutcome;
}

/** What the server core gives the broker. */
export interface BrokerNode {
  readonly nodeId: string;
  /** Events for a target this node has interest in (a uid it holds, or `'all'`), per publisher in publish order. */
  deliver(msg: BrokerMessage): void;
  /** A request for a client of a uid this node holds; a node that does not hold `clientId` ignores it. */
  request(req: BrokerRequest): void;
  /** The outcome of a request this node asked. */
  reply(rep: BrokerReply): void;
  /** Cluster presence edge: fired once for the cluster when `uid` becomes connected (anywhere) or disconnected (everywhere). */
  uidport(uid: Uid, open: boolean): void;
}

export interface Broker {
  connect(node: BrokerNode): void;
  /** Routes `events` to the nodes with interest in `target`. Never throws. */
  publish(target: SendTarget, events: readonly ChskEvent[], flush: boolean): void;
  /** Routes a request to the nodes holding `req.uid`. */
  request(req: BrokerRequest): void;
  /** Routes a request's outcome to node `rep.to`. */
  reply(rep: BrokerReply): void;
  /** This node's holding of `uid` changed (called only on a change; O(1)): drives interest and cluster presence. */
  localPresence(uid: Uid, on: { readonly ws: boolean; readonly ajax: boolean }): void;
  /** Cluster-wide connected uids; emissions may be coalesced (see `inMemoryBroker`). */
  readonly connectedUids$: Observable<ConnectedUids>;
  close(): Promise<void>;
}

export const EMPTY_UIDS: ConnectedUids = Object.freeze({ ws: new Set<Uid>(), ajax: new Set<Uid>(), any: new Set<Uid>() });

export interface InMemoryBrokerOptions {
  /** The clock of the presence window. The server passes its own when it makes the broker. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
  /** The presence coalescing window (see `inMemoryBroker`). @default 50 */
  readonly presenceWindowMs?: number;
}

/** The default presence coalescing window, in ms. */
export const DEFAULT_PRESENCE_WINDOW_MS = 50;

const closedOutcome = (message: string): BrokerOutcome => ({ ok: false, code: 'chsk/closed', message });

/**
 * One process, zero set-up: delivery is a synchronous call to the one node.
 *
 * Presence: `localPresence` updates three mutable sets in O(1). `connectedUids$` emits immutable
 * snapshots (one O(uids) copy each), throttled on the scheduler, leading and trailing: a change
 * after a quiet window is emitted at once; changes within `presenceWindowMs` of an emission are
 * emitted together, once, when the window ends. So a reconnect herd of k users costs O(k) set
 * updates plus at most two copies per window, instead of one copy per change, and
 * `connectedUids$.value` lags a change by at most one window. The uidport edges of a window are
 * fired right after the emission that includes them, in order: whoever sees `chsk/uidport-open`
 * finds the uid in `connectedUids$.value` (unless it left again in the same window).
 */
export function inMemoryBroker(options: InMemoryBrokerOptions = {}): Broker {
  const scheduler = options.scheduler ?? asyncScheduler;
  const windowMs = options.presenceWindowMs ?? DEFAULT_PRESENCE_WINDOW_MS;
  if (!(Number.isFinite(windowMs) && windowMs >= 0)) throw new TypeError(`presenceWindowMs must be a finite number >= 0, got ${String(windowMs)}`);
  let node: BrokerNode | undefined;
  let closed = false;
  const uids$ = new BehaviorSubject<ConnectedUids>(EMPTY_UIDS);
  const ws = new Set<Uid>();
  const ajax = new Set<Uid>();
  const any = new Set<Uid>();
  /** Edges waiting for the window's emission. */
  let edges: [Uid, boolean][] = [];
  let dirty = false;
  /** When the last emission went out (scheduler ms); -Infinity before any. */
  let lastEmit = -Infinity;
  let trailing: Subscription | null = null;

  const emit = (): void => {
    trailing = null;
    if (closed || !dirty) return;
    dirty = false;
    lastEmit = scheduler.now();
    uids$.next(Object.freeze({ ws: new Set(ws), ajax: new Set(ajax), any: new Set(any) }));
    const fire = edges;
    edges = [];
    for (const [uid, open] of fire) node?.uidport(uid, open);
  };

  const set = (s: Set<Uid>, uid: Uid, on: boolean): void => {
    if (on) s.add(uid);
    else s.delete(uid);
  };

  return {
    connect(n) {
      if (node !== undefined) throw new Error('inMemoryBroker serves one server; create one per server');
      node = n;
    },
    publish(target, events, flush) {
      if (closed) return;
      // One node has interest in everything: it filters by uid and client id itself.
      node?.deliver({ target, events, flush });
    },
    request(req) {
      if (closed || node === undefined) return;
      // The one node asked after looking at its own clients, so no node holds this one unless it holds the uid.
      if (any.has(req.uid)) node.request(req);
      else node.reply({ id: req.id, to: req.from, outcome: closedOutcome('the client is not connected') });
    },
    reply(rep) {
      if (closed) return;
      if (node !== undefined && rep.to === node.nodeId) node.reply(rep);
    },
    localPresence(uid, on) {
      if (closed) return;
      const was = any.has(uid);
      const is = on.ws || on.ajax;
      set(ws, uid, on.ws);
      set(ajax, uid, on.ajax);
      set(any, uid, is);
      dirty = true;
      if (was !== is) edges.push([uid, is]);
      if (trailing !== null) return;
      const since = scheduler.now() - lastEmit;
      if (since >= windowMs) emit();
      else trailing = scheduler.schedule(emit, windowMs - since);
    },
    connectedUids$: uids$.asObservable(),
    close() {
      closed = true;
      trailing?.unsubscribe();
      trailing = null;
      node = undefined;
      uids$.complete();
      return Promise.resolve();
    },
  };
}

/** A request's outcome as the error its Observable fails with. */
export function outcomeError(outcome: Exclude<BrokerOutcome, { ok: true }>): ChskError {
  return new ChskError(outcome.code, outcome.message, outcome.issues === undefined ? undefined : { issues: outcome.issues });
}
