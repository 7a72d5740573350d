/**
 * The broker seam (v2): everything a server node sends beyond its own connections goes through
 * it, so a cluster broker (`@sente-rx/redis`) can route sends, broadcasts and server→client
 * requests to whichever node holds the clients, and aggregate presence across nodes.
 *
 * Recovery (issue 13, PROTOCOL.md §11) rides on optional members: a broker that keeps a log stamps
 * each delivered message with `logged` and answers `history` / `head` / `settled`; a broker
 * without them still works, and the server then runs without recovery.
 */
import { ChskError, type ChskEvent, type Position, type Uid } from '@sente-rx/core';
import { asyncScheduler, BehaviorSubject, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { MemoryLog } from './log.js';
import { SnapshotSet } from './presence-set.js';
import { DEFAULT_RECOVERY, resolveRecoveryOption, type ServerRecoveryOptions } from './recovery.js';
import type { ConnectedUids } from './types.js';

export type { Position };

/** Who a publish is for. */
export type SendTarget =
  | { readonly kind: 'uid'; readonly uid: Uid }
  | { readonly kind: 'client'; readonly uid: Uid; readonly clientId: string }
  | { readonly kind: 'all' };

/** One event with its place in the log. */
export interface LoggedEvent {
  readonly event: ChskEvent;
  /** `'u'`: the uid's stream (sends to a uid or one of its clients); `'g'`: broadcasts. */
  readonly stream: 'u' | 'g';
  /** Monotonic per stream, from 1; 0 when the event is not in the log. */
  readonly seq: number;
  /** For client-targeted sends: only this client receives it. */
  readonly clientId?: string;
  /**
   * From a broker that can tell, which log the event was appended to. Uid-stream events: the epoch
   * of the uid's log. Broadcasts: the broadcast log's generation, for a broker whose epochs are
   * `<broadcast generation>.<rest>` (one broadcast event goes to every uid, each with its own epoch),
   * so it is the part of a client's epoch before its first dot (no dot in the generation). A server
   * that sees an event of another log than a live client's epoch knows the log was replaced
   * (expired metadata, a flushed or restarted store: sequences restart at 1) and makes the client
   * reconnect, which reports the gap (PROTOCOL.md §11.5). The in-memory broker stamps uid events
   * only (its broadcast log lives as long as the process); `redisBroker` stamps both.
   */
  readonly epoch?: string;
}

/** One publish, as it reaches a node with interest in its target. */
export interface BrokerMessage {
  readonly target: SendTarget;
  readonly events: readonly ChskEvent[];
  readonly flush: boolean;
  /** From a broker with a log: `logged[i]` is `events[i]` with its stream and seq. */
  readonly logged?: readonly LoggedEvent[];
}

/** One page of the log after a position. */
export interface HistoryPage {
  readonly events: readonly LoggedEvent[];
  /** False when the log cannot fill the gap after `from` (trimmed, expired, other epoch, malformed `from`). */
  readonly complete: boolean;
  /** Where the client stands after receiving `events`. */
  readonly position: Position;
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
  /**
   * Interest, ahead of presence (optional): the server calls it with `true` each time it registers
   * a connection of `uid` (a WebSocket open, an Ajax handshake: before the client is told it is
   * connected), and with `false` once it has no connection of `uid` left; it is idempotent, not
   * counted. For `true` it returns a promise that resolves once the interest is live (whatever is
   * published to `uid`, or to one of its clients, after that reaches this node), or `undefined`
   * when it already is or cannot be awaited (the broker's store is down: the server then goes on
   * without waiting). The server holds the client's handshake until then, so no send issued after
   * the client saw its handshake can miss it. The promise never rejects. A broker without it (the
   * in-memory one: one node with interest in everything) adds no wait.
   */
  interest?(uid: Uid, on: boolean): Promise<void> | undefined;
  /** Cluster-wide connected uids; emissions may be coalesced (see `inMemoryBroker`). */
  readonly connectedUids$: Observable<ConnectedUids>;
  /**
   * Recovery: the events after `from` for this client (its uid stream, less events for its other
   * clients, merged with the broadcast stream), at most `limit`; a page shorter than `limit`
   * reached the head. Never throws for a malformed `from` (`complete: false`); rejects only when
   * the log's store is unreachable. With `head`, it turns recovery on.
   */
  history?(uid: Uid, clientId: string, from: Position, limit: number): Promise<HistoryPage>;
  /** Recovery: where a client of `uid` that saw everything stands. */
  head?(uid: Uid): Promise<Position>;
  /** Resolves once everything issued before it took effect (interest subscribed), so history() read after it misses nothing. @default resolved at once */
  settled?(): Promise<void>;
  close(): Promise<void>;
}

export const EMPTY_UIDS: ConnectedUids = Object.freeze({ ws: new Set<Uid>(), ajax: new Set<Uid>(), any: new Set<Uid>() });

export interface InMemoryBrokerOptions {
  /** The clock of the presence window. The server passes its own when it makes the broker. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
  /** The presence coalescing window (see `inMemoryBroker`). @default 50 */
  readonly presenceWindowMs?: number;
  /**
   * The recovery log's bounds (the server's `recovery` option when the server makes the broker),
   * or `false` for no log. @default { maxEvents: 1_000, maxAgeMs: 120_000 }
   */
  readonly recovery?: ServerRecoveryOptions | false;
}

/** How long an idle uid stream's counter outlives its events in the in-memory log (24 h). */
export const META_TTL_MS = 86_400_000;

/** The default presence coalescing window, in ms. */
export const DEFAULT_PRESENCE_WINDOW_MS = 50;

const closedOutcome = (message: string): BrokerOutcome => ({ ok: false, code: 'chsk/closed', message });

/**
 * One process, zero set-up: delivery is a synchronous call to the one node.
 *
 * Presence: `localPresence` updates three sets in O(1). `connectedUids$` emits immutable
 * snapshots of them, each O(1) (`SnapshotSet`: no copy per emission, so a connect costs the
 * same at 1,000 users as at 20,000), throttled on the scheduler, leading and trailing: a change
 * after a quiet window is emitted at once; changes within `presenceWindowMs` of an emission are
 * emitted together, once, when the window ends. So a reconnect herd of k users costs O(k) set
 * updates plus at most two emissions per window, and `connectedUids$.value` lags a change by at
 * most one window. The uidport edges of a window are
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
  const ws = new SnapshotSet();
  const ajax = new SnapshotSet();
  const any = new SnapshotSet();
  /** Edges waiting for the window's emission. */
  let edges: [Uid, boolean][] = [];
  let dirty = false;
  /** When the last emission went out (scheduler ms); -Infinity before any. */
  let lastEmit = -Infinity;
  let trailing: Subscription | null = null;
  const bounds = resolveRecoveryOption(options.recovery ?? DEFAULT_RECOVERY);
  const log = bounds === undefined ? undefined : new MemoryLog({ ...bounds, metaTtlMs: Math.max(META_TTL_MS, bounds.maxAgeMs) });

  const emit = (): void => {
    trailing = null;
    if (closed || !dirty) return;
    dirty = false;
    lastEmit = scheduler.now();
    uids$.next(Object.freeze({ ws: ws.snapshot(), ajax: ajax.snapshot(), any: any.snapshot() }));
    const fire = edges;
    edges = [];
    for (const [uid, open] of fire) node?.uidport(uid, open);
  };

  return {
    connect(n) {
      if (node !== undefined) throw new Error('inMemoryBroker serves one server; create one per server');
      node = n;
    },
    publish(target, events, flush) {
      if (closed) return;
      // One node has interest in everything: it filters by uid and client id itself.
      if (log === undefined) node?.deliver({ target, events, flush });
      else node?.deliver({ target, events, flush, logged: log.append(target, events, scheduler.now()) });
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
      ws.set(uid, on.ws);
      ajax.set(uid, on.ajax);
      any.set(uid, is);
      dirty = true;
      if (was !== is) edges.push([uid, is]);
      if (trailing !== null) return;
      const since = scheduler.now() - lastEmit;
      if (since >= windowMs) emit();
      else trailing = scheduler.schedule(emit, windowMs - since);
    },
    connectedUids$: uids$.asObservable(),
    ...(log === undefined
      ? {}
      : {
          history: (uid: Uid, clientId: string, from: Position, limit: number) => Promise.resolve(log.history(uid, clientId, from, limit, scheduler.now())),
          head: (uid: Uid) => Promise.resolve(log.head(uid, scheduler.now())),
          settled: () => Promise.resolve(),
        }),
    close() {
      log?.clear();
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
