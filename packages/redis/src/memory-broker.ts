import { type ChskEvent, type Logger, silentLogger, type Uid } from '@sente-rx/core';
import { asapScheduler, type SchedulerLike } from 'rxjs';
import {
  type Broker,
  type BrokerMessage,
  type BrokerNode,
  type BrokerReply,
  type BrokerRequest,
  type BrokerStats,
  type HistoryPage,
  type LoggedEvent,
  NO_HOLDER_MESSAGE,
  type Position,
  type RecoveryBounds,
  type RecoveryOptions,
  resolveRecovery,
  type SendTarget,
} from './contract.js';
import { MemoryLog } from '@sente-rx/server';
import { type Kinds, kindsOf, PresenceSets } from './presence.js';

export interface InMemoryBrokerV2Options {
  /** The log's bounds, or `false` for no log (seq 0, history() always incomplete). @default DEFAULT_RECOVERY */
  readonly recovery?: RecoveryOptions | false;
  /** Clock for log ages and the scheduler of coalesced connectedUids$ emissions. @default asapScheduler */
  readonly scheduler?: SchedulerLike;
  /** Where a throwing node handler is reported (it never propagates into publish()). @default silentLogger */
  readonly logger?: Logger;
}

/**
 * The one-process reference broker: one node, synchronous delivery, presence O(1) per change,
 * and the log in process memory.
 *
 * Memory bound (recovery on): each stream (one per uid published to, plus the broadcast one) keeps
 * at most `maxEvents` events, none older than `maxAgeMs` once the stream is touched; a stream with
 * no append for `maxAgeMs` has its events freed; its metadata (generation + counter, ~100 bytes)
 * is removed after `metaTtlMs` without publish/head/history. Expiry is lazy and amortized O(1):
 * every broker call first pops the expired streams off two insertion-ordered maps (no timers).
 * So at most (uids published to within maxAgeMs) × maxEvents events are held.
 *
 * connectedUids$: see PresenceSets (one emission per `scheduler` run, immutable snapshots).
 */
export function inMemoryBrokerV2(options: InMemoryBrokerV2Options = {}): Broker {
  const bounds: RecoveryBounds | undefined = resolveRecovery(options.recovery);
  const scheduler = options.scheduler ?? asapScheduler;
  const memLog = bounds === undefined ? undefined : new MemoryLog(bounds);
  const presence = new PresenceSets(scheduler);
  const log = options.logger ?? silentLogger;
  const safely = (what: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      log.error(`sente-rx/broker: the server's ${what} handler threw`, { error: e instanceof Error ? e.message : String(e) });
    }
  };
  const local = new Map<Uid, Kinds>();
  let node: BrokerNode | undefined;
  let closed = false;
  let published = 0;
  let delivered = 0;

  const stamp = (target: SendTarget, events: readonly ChskEvent[], now: number): LoggedEvent[] => {
    // (This package's LoggedEvent carries no epoch: keep the shape its conformance suite pins.)
    if (memLog !== undefined) return memLog.append(target, events, now).map((e) => (e.clientId === undefined ? { event: e.event, stream: e.stream, seq: e.seq } : { event: e.event, stream: e.stream, seq: e.seq, clientId: e.clientId }));
    const clientId = target.kind === 'client' ? target.clientId : undefined;
    const stream = target.kind === 'all' ? 'g' : 'u';
    return events.map((event) => (clientId === undefined ? { event, stream, seq: 0 } : { event, stream, seq: 0, clientId }));
  };

  const deliver = (msg: BrokerMessage): void => {
    if (node === undefined) return;
    delivered++;
    const n = node;
    safely('deliver', () => n.deliver(msg));
  };

  return {
    connect(n) {
      if (node !== undefined) throw new Error('inMemoryBrokerV2 serves one server; create one per server');
      node = n;
    },
    publish(target, events, flush) {
      if (closed) return;
      published++;
      const msg: BrokerMessage = { target, events, logged: stamp(target, events, scheduler.now()), flush };
      if (target.kind === 'all' || local.has(target.uid)) deliver(msg);
    },
    request(req: BrokerRequest) {
      if (closed || node === undefined) return;
      const n = node;
      if (local.has(req.uid)) safely('request', () => n.request(req));
      else if (req.from === n.nodeId) safely('reply', () => n.reply({ id: req.id, to: req.from, outcome: { ok: false, code: 'chsk/closed', message: NO_HOLDER_MESSAGE } }));
    },
    reply(rep: BrokerReply) {
      const n = node;
      if (closed || n === undefined || rep.to !== n.nodeId) return;
      safely('reply', () => n.reply(rep));
    },
    localPresence(uid, on) {
      if (closed) return;
      const kinds = kindsOf(on);
      const was = local.has(uid);
      if (kinds === '') local.delete(uid);
      else local.set(uid, kinds);
      presence.set(uid, kinds);
      const n = node;
      if (n !== undefined && was !== (kinds !== '')) safely('uidport', () => n.uidport(uid, !was));
    },
    connectedUids$: presence.uids$,
    // With the log off there is no history() / head(): the server then runs without recovery.
    ...(memLog === undefined
      ? {}
      : {
          history: (uid: Uid, clientId: string, from: Position, limit: number): Promise<HistoryPage> => Promise.resolve(memLog.history(uid, clientId, from, limit, scheduler.now())),
          head: (uid: Uid): Promise<Position> => Promise.resolve(memLog.head(uid, scheduler.now())),
        }),
    settled: () => Promise.resolve(),
    stats(): BrokerStats {
      return { published, delivered, dropped: 0, reconnects: 0, logged: memLog?.logged ?? 0, received: delivered };
    },
    close() {
      if (!closed) {
        closed = true;
        node = undefined;
        presence.close();
        memLog?.clear();
      }
      return Promise.resolve();
    },
  };
}
