import { createHash, randomBytes } from 'node:crypto';
import { type ChskEvent, type Logger, silentLogger, type Uid } from '@sente-rx/core';
import { Redis, type RedisOptions } from 'ioredis';
import { asapScheduler, BehaviorSubject, type Observable, type SchedulerLike } from 'rxjs';
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
import { buildPage, type StoredEvent, type StreamSlice, validLimit, validPosition } from './history.js';
import { BEAT, PUBLISH_LOGGED, READ_LOG, SET_PRESENCE, SYNC_NODE } from './lua.js';
import { type Kinds, kindsOf, PresenceSets } from './presence.js';

export interface RedisBrokerOptions {
  /** `redis://[user:pass@]host:port[/db]`. */
  readonly url: string;
  /** Prefix of every key and channel, so several apps can share one Redis. @default 'sente-rx' */
  readonly prefix?: string;
  /** The log's bounds, or `false` for plain PUBLISH without a log. @default DEFAULT_RECOVERY */
  readonly recovery?: RecoveryOptions | false;
  /** How often a node refreshes its liveness and sweeps dead nodes. @default 2_000 (2 s) */
  readonly heartbeatMs?: number;
  /**
   * A node whose last heartbeat is older than this is dead: its uids leave cluster presence at the
   * next sweep by any live node, so within presenceTtlMs + heartbeatMs of its last heartbeat.
   * Must exceed 2 × heartbeatMs. @default 6_000 (6 s)
   */
  readonly presenceTtlMs?: number;
  /** @default silentLogger */
  readonly logger?: Logger;
  /** Scheduler of the coalesced connectedUids$ emissions. @default asapScheduler */
  readonly scheduler?: SchedulerLike;
  /** Extra ioredis options (TLS, auth, retryStrategy, …); the broker's own settings win. */
  readonly redisOptions?: RedisOptions;
}

/** 'connecting' until Redis is first reached; 'degraded' while a connection is down. */
export type RedisBrokerStatus = 'connecting' | 'ready' | 'degraded' | 'closed';

export interface RedisBroker extends Broker {
  /**
   * Becomes 'ready' once both connections are up, subscriptions re-established, this node's
   * presence re-synced and the connectedUids$ mirror reloaded.
   */
  readonly status$: Observable<RedisBrokerStatus>;
}

const DEFAULT_HEARTBEAT_MS = 2_000; // 2 s
const DEFAULT_PRESENCE_TTL_MS = 6_000; // 6 s
const DEAD_NODES_PER_SWEEP = 8;

interface Script {
  readonly lua: string;
  readonly sha: string;
}
const script = (lua: string): Script => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });
const SCRIPTS = {
  publish: script(PUBLISH_LOGGED),
  read: script(READ_LOG),
  presence: script(SET_PRESENCE),
  sync: script(SYNC_NODE),
  beat: script(BEAT),
} as const;

type RawEntry = [id: string, fields: string[]];

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The cluster broker. Three connections per node (commands, pub/sub, heartbeats), ioredis
 * reconnecting and resubscribing by itself.
 *
 * Routing (interest-based): channel `<prefix>:u:<uid>` carries sends and requests for uid; a node
 * subscribes to it while it holds a client of uid. `<prefix>:g` carries broadcasts (every node),
 * `<prefix>:n:<nodeId>` replies for that node, `<prefix>:presence` cluster presence edges.
 *
 * Cost per send to a uid (recovery on): one EVALSHA round trip; inside Redis 2 HSETNX + 2 HGET
 * (the uid and broadcast generations: the epoch stamped on the message), HINCRBY, XRANGE (age
 * check), XADD per event, 3 PEXPIRE, PUBLISH. Recovery off: one PUBLISH.
 *
 * Outage: a publish, request or reply issued while status$ is not 'ready' (Redis not reached yet,
 * a connection down, or state still being restored after a reconnect) is DROPPED: counted in
 * stats().dropped and logged (warn for the first of an outage, debug for the rest, a summary with
 * the count when Redis is back); a request so dropped gets a 'chsk/error' reply at once. Commands
 * already written when a connection fails are resent after the reconnect (ioredis), so those are
 * delivered after it (or counted as dropped if they fail). Nothing throws.
 */
export function redisBroker(options: RedisBrokerOptions): RedisBroker {
  if (typeof options.url !== 'string' || options.url === '') throw new TypeError('redisBroker: url is required');
  const prefix = options.prefix ?? 'sente-rx';
  const bounds: RecoveryBounds | undefined = resolveRecovery(options.recovery);
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const presenceTtlMs = options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS;
  if (!(heartbeatMs > 0)) throw new TypeError(`redisBroker: heartbeatMs must be positive, got ${heartbeatMs}`);
  if (!(presenceTtlMs > 2 * heartbeatMs)) throw new TypeError(`redisBroker: presenceTtlMs (${presenceTtlMs}) must exceed 2 × heartbeatMs (${heartbeatMs})`);
  const log = options.logger ?? silentLogger;
  const presence = new PresenceSets(options.scheduler ?? asapScheduler);
  const status$ = new BehaviorSubject<RedisBrokerStatus>('connecting');

  const keys = {
    uidChannel: (uid: Uid) => `${prefix}:u:${uid}`,
    broadcastChannel: `${prefix}:g`,
    nodeChannel: (id: string) => `${prefix}:n:${id}`,
    presenceChannel: `${prefix}:presence`,
    uidMeta: (uid: Uid) => `${prefix}:m:u:${uid}`,
    uidStream: (uid: Uid) => `${prefix}:s:u:${uid}`,
    broadcastMeta: `${prefix}:m:g`,
    broadcastStream: `${prefix}:s:g`,
    nodePrefix: `${prefix}:np:`,
    nodes: `${prefix}:nodes`,
    order: `${prefix}:order`,
    counts: [`${prefix}:c:w`, `${prefix}:c:a`, `${prefix}:c:A`] as const,
  };
  const uidChannelPrefix = `${prefix}:u:`;
  // CLIENT SETNAME refuses spaces and the like; the name is only for `CLIENT LIST`.
  const clientName = (role: string): string => `${prefix.replace(/[^\w:.-]/g, '_')}:${role}`;

  const base: RedisOptions = {
    ...options.redisOptions,
    lazyConnect: false,
    autoResubscribe: true,
    // Commands already written when the connection drops are resent after the reconnect.
    autoResendUnfulfilledCommands: true,
    maxRetriesPerRequest: null,
  };
  // Commands: no offline queue, so a publish during an outage fails at once (and is counted)
  // instead of piling up in memory without a bound.
  const cmd = new Redis(options.url, { ...base, enableOfflineQueue: false, connectionName: clientName('cmd') });
  // Pub/sub: (un)subscribes during an outage wait in ioredis' queue (bounded by presence changes).
  const sub = new Redis(options.url, { ...base, enableOfflineQueue: true, connectionName: clientName('sub') });
  // Heartbeats get their own connection: behind a burst of publishes on `cmd` they would reach
  // Redis late, and the other nodes would sweep a node that is merely busy.
  const hb = new Redis(options.url, { ...base, enableOfflineQueue: false, connectionName: clientName('hb') });
  const conns = [cmd, sub, hb] as const;
  const allReady = (): boolean => conns.every((c) => c.status === 'ready');

  let node: BrokerNode | undefined;
  let closed = false;
  const local = new Map<Uid, Kinds>();
  const pending = new Set<Promise<unknown>>();
  const genPrefix = randomBytes(6).toString('base64url');
  let gens = 0;
  const gen = (): string => `${genPrefix}${(gens++).toString(36)}`;
  let published = 0;
  let delivered = 0;
  let dropped = 0;
  let reconnects = 0;
  let logged = 0;
  let received = 0;
  let outageDrops = 0;
  let healthRun = 0;

  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    const done = (): void => {
      pending.delete(p);
    };
    p.then(done, done);
    return p;
  };

  const evalScript = async (s: Script, keyList: readonly string[], args: readonly (string | number)[], conn: Redis = cmd): Promise<unknown> => {
    try {
      return await conn.evalsha(s.sha, keyList.length, ...keyList, ...args);
    } catch (e) {
      if (!errText(e).includes('NOSCRIPT')) throw e;
      return conn.eval(s.lua, keyList.length, ...keyList, ...args);
    }
  };

  const drop = (what: string, e: unknown, data: Record<string, unknown>): void => {
    dropped++;
    outageDrops++;
    const entry = { ...data, error: errText(e) };
    if (outageDrops === 1) log.warn(`sente-rx/redis: ${what} dropped (Redis unavailable?); further drops until it is back are logged at debug`, entry);
    else log.debug(`sente-rx/redis: ${what} dropped`, entry);
  };

  // ---- inbound -------------------------------------------------------------------------------

  const safely = (what: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      log.error(`sente-rx/redis: the server's ${what} handler threw`, { error: errText(e) });
    }
  };

  const applyEdges = (raw: string): void => {
    let edges: unknown;
    try {
      edges = JSON.parse(raw);
    } catch {
      log.warn('sente-rx/redis: unreadable presence message ignored', { raw: raw.slice(0, 200) });
      return;
    }
    if (!Array.isArray(edges)) return;
    for (const edge of edges) {
      if (!Array.isArray(edge) || typeof edge[0] !== 'string' || typeof edge[1] !== 'string') continue;
      applyEdge(edge[0], edge[1]);
    }
  };

  /** One cluster presence edge ('w+A+', 'a-', …) into the connectedUids$ mirror. */
  const applyEdge = (uid: Uid, flips: string): void => {
    const cur = presence.kinds(uid);
    let w = cur.includes('w');
    let a = cur.includes('a');
    if (flips.includes('w+')) w = true;
    if (flips.includes('w-')) w = false;
    if (flips.includes('a+')) a = true;
    if (flips.includes('a-')) a = false;
    // 'any' needs no flag of its own: a node holds a uid through ws or ajax.
    presence.set(uid, kindsOf({ ws: w, ajax: a }));
  };

  /**
   * The presence messages received while a mirror reload is in flight, one list per reload. The
   * HGETALLs (on `cmd`) and the edges (on `sub`) travel on different connections: an edge PUBLISHed
   * after Redis ran the HGETALLs can be applied before their replies arrive, and the reset would
   * then wipe it (a uid another node just re-registered missing from this node's mirror until its
   * next edge). So the reset is followed by the edges received since the reload started, in order:
   * edges are absolute (w+, a-), so one the snapshot already holds changes nothing when replayed.
   */
  const reloading = new Set<string[]>();

  const onMessage = (channel: string, raw: string): void => {
    if (closed) return;
    if (channel === keys.presenceChannel) {
      for (const seen of reloading) seen.push(raw);
      return applyEdges(raw);
    }
    received++;
    const n = node;
    if (n === undefined) return;
    const kind = raw[0];
    try {
      if (kind === 'm') {
        const bar = raw.indexOf('|');
        const first = Number(raw.slice(1, bar));
        const body = JSON.parse(raw.slice(bar + 1)) as { t: SendTarget; f: boolean; e: ChskEvent[]; ep?: unknown };
        if (body.t.kind !== 'all' && !wanted(body.t.uid)) return;
        const stream = body.t.kind === 'all' ? 'g' : 'u';
        const clientId = body.t.kind === 'client' ? body.t.clientId : undefined;
        // The log the events went to (PUBLISH_LOGGED): the uid stream's epoch, or the broadcast
        // stream's generation, so the server sees a log replaced under a live client (LoggedEvent.epoch).
        const epoch = first !== 0 && typeof body.ep === 'string' ? body.ep : undefined;
        const events: LoggedEvent[] = body.e.map((event, i) => {
          const seq = first === 0 ? 0 : first + i;
          if (epoch === undefined) return clientId === undefined ? { event, stream, seq } : { event, stream, seq, clientId };
          return clientId === undefined ? { event, stream, seq, epoch } : { event, stream, seq, clientId, epoch };
        });
        delivered++;
        const msg: BrokerMessage = { target: body.t, events: body.e, logged: events, flush: body.f };
        safely('deliver', () => n.deliver(msg));
      } else if (kind === 'q') {
        const req = JSON.parse(raw.slice(1)) as BrokerRequest;
        if (channel.startsWith(uidChannelPrefix) && wanted(req.uid)) safely('request', () => n.request(req));
      } else if (kind === 'r') {
        const rep = JSON.parse(raw.slice(1)) as BrokerReply;
        safely('reply', () => n.reply(rep));
      }
    } catch (e) {
      log.warn('sente-rx/redis: unreadable message ignored', { channel, error: errText(e) });
    }
  };
  sub.on('message', onMessage);

  // ---- presence ------------------------------------------------------------------------------

  /**
   * The edges a script of this node caused. Each goes into the mirror first (its PUBLISHed copy,
   * on the pub/sub connection, may come after this reply; applying it twice is harmless), so
   * whoever sees `chsk/uidport-open` finds the uid in connectedUids$ (its newest snapshot), as with the
   * in-memory broker.
   */
  const fireFlips = (flat: readonly unknown[]): void => {
    const n = node;
    if (n === undefined) return;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const uid = flat[i];
      const flips = flat[i + 1];
      if (typeof uid !== 'string' || typeof flips !== 'string') continue;
      applyEdge(uid, flips);
      if (flips.includes('A+')) safely('uidport', () => n.uidport(uid, true));
      else if (flips.includes('A-')) safely('uidport', () => n.uidport(uid, false));
    }
  };

  const presenceKeys = (nodeId: string): string[] => [`${keys.nodePrefix}${nodeId}`, ...keys.counts, keys.nodes];

  const syncNode = async (n: BrokerNode): Promise<void> => {
    const args: (string | number)[] = [n.nodeId, presenceTtlMs, keys.presenceChannel];
    for (const [uid, k] of local) args.push(uid, k);
    const out = await evalScript(SCRIPTS.sync, presenceKeys(n.nodeId), args);
    if (Array.isArray(out)) fireFlips(out);
  };

  const reloadMirror = async (): Promise<void> => {
    const seen: string[] = [];
    reloading.add(seen);
    try {
      const [ws, ajax, any] = await Promise.all(keys.counts.map((k) => cmd.hgetall(k)));
      const entries: [Uid, Kinds][] = [];
      for (const uid of Object.keys(any ?? {})) entries.push([uid, kindsOf({ ws: ws?.[uid] !== undefined, ajax: ajax?.[uid] !== undefined })]);
      presence.reset(entries);
      for (const raw of seen) applyEdges(raw);
    } finally {
      reloading.delete(seen);
    }
  };

  const beat = async (mode: 'beat' | 'bye'): Promise<void> => {
    const n = node;
    // The goodbye goes on `cmd`, after this node's presence updates; heartbeats on `hb`.
    const conn = mode === 'bye' ? cmd : hb;
    if (n === undefined || conn.status !== 'ready') return;
    const out = await evalScript(SCRIPTS.beat, presenceKeys(n.nodeId), [n.nodeId, presenceTtlMs, keys.presenceChannel, keys.nodePrefix, mode, DEAD_NODES_PER_SWEEP], conn);
    if (!Array.isArray(out)) return;
    fireFlips(out.slice(1));
    if (mode === 'beat' && out[0] === 0) {
      log.info('sente-rx/redis: this node was not registered (swept while unreachable, or Redis lost its data); re-syncing its presence', { nodeId: n.nodeId, uids: local.size });
      await syncNode(n);
    }
  };
  const timer = setInterval(() => {
    if (closed || status$.value !== 'ready') return;
    track(beat('beat')).catch((e: unknown) => log.debug('sente-rx/redis: heartbeat failed', { error: errText(e) }));
  }, heartbeatMs);
  timer.unref();

  // ---- health --------------------------------------------------------------------------------

  const becomeHealthy = async (): Promise<void> => {
    const run = ++healthRun;
    // The PING is queued after ioredis' resubscribe, so once it answers every channel is back.
    await sub.ping();
    // Load the scripts first, so a burst of publishes after a (re)connect does not turn into a
    // burst of NOSCRIPT misses, each resending the whole script.
    await Promise.all(Object.values(SCRIPTS).map((sc) => cmd.script('LOAD', sc.lua)));
    const n = node;
    if (n !== undefined) await syncNode(n);
    await reloadMirror();
    if (run !== healthRun || closed || !allReady()) return;
    if (status$.value === 'degraded') {
      reconnects++;
      log.info('sente-rx/redis: Redis is back; subscriptions and presence restored', { droppedDuringOutage: outageDrops });
    } else if (status$.value === 'connecting') log.info('sente-rx/redis: connected', { prefix });
    outageDrops = 0;
    status$.next('ready');
  };
  const onReady = (): void => {
    if (closed || !allReady()) return;
    track(becomeHealthy()).catch((e: unknown) => {
      log.warn('sente-rx/redis: restoring state after connect failed; retrying', { error: errText(e) });
      setTimeout(onReady, heartbeatMs).unref();
    });
  };
  const onDown = (): void => {
    for (const release of [...gates]) release();
    if (closed) return;
    healthRun++;
    if (status$.value === 'ready') {
      log.warn('sente-rx/redis: lost Redis; publishes are dropped (and counted) until it is back', { url: redacted(options.url) });
      status$.next('degraded');
    }
  };
  let errorsLogged = 0;
  const onError = (e: unknown): void => {
    // ioredis emits one error per failed attempt; the first of a streak is worth a warning.
    if (errorsLogged++ === 0 || status$.value === 'ready') log.warn('sente-rx/redis: Redis connection error (retrying)', { error: errText(e) });
    else log.debug('sente-rx/redis: Redis connection error (retrying)', { error: errText(e) });
  };
  for (const c of conns) {
    c.on('ready', () => {
      errorsLogged = 0;
      onReady();
    });
    c.on('close', onDown);
    c.on('error', onError);
  }

  // ---- outbound ------------------------------------------------------------------------------

  const channelOf = (target: SendTarget): string => (target.kind === 'all' ? keys.broadcastChannel : keys.uidChannel(target.uid));

  const publishLogged = async (target: SendTarget, bodyJson: string, eventJsons: readonly string[]): Promise<void> => {
    const b = bounds;
    if (b === undefined) {
      await cmd.publish(channelOf(target), `m0|${bodyJson}`);
      return;
    }
    const [meta, stream] = target.kind === 'all' ? [keys.broadcastMeta, keys.broadcastStream] : [keys.uidMeta(target.uid), keys.uidStream(target.uid)];
    const clientId = target.kind === 'client' ? target.clientId : '';
    await evalScript(SCRIPTS.publish, [meta, stream, keys.order, keys.broadcastMeta], [gen(), b.maxEvents, b.maxAgeMs, b.metaTtlMs, channelOf(target), bodyJson, clientId, eventJsons.length, ...eventJsons]);
    logged += eventJsons.length;
  };

  /**
   * Interest: this node SUBSCRIBEs to `<prefix>:u:<uid>` while it has a connection of uid
   * (`interest`, from the server's registry: a WebSocket open, an Ajax handshake) or holds uid in
   * presence (`local`), and UNSUBSCRIBEs when it has neither.
   */
  const interested = new Set<Uid>();
  const wanted = (uid: Uid): boolean => interested.has(uid) || local.has(uid);
  /** Per uid, the SUBSCRIBE not yet acknowledged (absent once it is, or after the UNSUBSCRIBE). */
  const acks = new Map<Uid, Promise<void>>();
  /** Resolves (never rejects) once Redis acknowledged the SUBSCRIBE. */
  const subscribe = (uid: Uid): void => {
    const ack = track(sub.subscribe(keys.uidChannel(uid))).then(
      () => undefined,
      (e: unknown) => log.warn('sente-rx/redis: subscribe failed', { uid, error: errText(e) }),
    );
    acks.set(uid, ack);
    void ack.then(() => {
      if (acks.get(uid) === ack) acks.delete(uid);
    });
  };
  const unsubscribe = (uid: Uid): void => {
    acks.delete(uid);
    track(sub.unsubscribe(keys.uidChannel(uid))).catch((e: unknown) => log.debug('sente-rx/redis: unsubscribe failed', { uid, error: errText(e) }));
  };
  /** After `interested` or `local` changed for uid: (un)subscribes on the edge of `wanted`. */
  const retarget = (uid: Uid, before: boolean): void => {
    const now = wanted(uid);
    if (now && !before) subscribe(uid);
    else if (!now && before) unsubscribe(uid);
  };
  /** Handshakes and settled() calls waiting; a lost connection releases them all (onDown). */
  const gates = new Set<() => void>();
  /** `p`, or sooner if a connection drops first (its SUBSCRIBE then waits for the reconnect). */
  const unlessLost = (p: Promise<void>): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        gates.delete(done);
        resolve();
      };
      gates.add(done);
      void p.then(done);
    });
  let ungatedLogged = false;
  /**
   * Per uid, the presence update in flight. A uid's presence is written only once its SUBSCRIBE
   * is acknowledged, so no node learns of (or fires uidport-open for) a uid whose holder could
   * still miss a publish to it; updates of one uid stay in order. O(1) per change.
   */
  const presenceChains = new Map<Uid, Promise<unknown>>();

  const broker: RedisBroker = {
    status$: status$.asObservable(),
    connectedUids$: presence.uids$,

    connect(n) {
      if (node !== undefined) throw new Error('redisBroker serves one server; create one per server');
      node = n;
      track(sub.subscribe(keys.broadcastChannel, keys.nodeChannel(n.nodeId), keys.presenceChannel)).catch((e: unknown) =>
        log.warn('sente-rx/redis: subscribe failed', { error: errText(e) }),
      );
      if (allReady()) onReady();
    },

    publish(target, events, flush) {
      if (closed) return;
      published++;
      if (status$.value !== 'ready') return drop('publish', new Error(`Redis broker is ${status$.value}`), { target });
      let bodyJson: string;
      let eventJsons: string[];
      try {
        eventJsons = events.map((e) => JSON.stringify(e));
        bodyJson = JSON.stringify({ t: target, f: flush, e: events });
      } catch (e) {
        dropped++;
        log.error('sente-rx/redis: events could not be serialized (JSON); message dropped', { target, error: errText(e) });
        return;
      }
      track(publishLogged(target, bodyJson, eventJsons)).catch((e: unknown) => drop('publish', e, { target }));
    },

    request(req) {
      if (closed) return;
      const answerLocally = (code: 'chsk/closed' | 'chsk/error', message: string): void => {
        const n = node;
        if (n !== undefined && req.from === n.nodeId) safely('reply', () => n.reply({ id: req.id, to: req.from, outcome: { ok: false, code, message } }));
      };
      if (status$.value !== 'ready') {
        drop('request', new Error(`Redis broker is ${status$.value}`), { id: req.id, uid: req.uid });
        return answerLocally('chsk/error', `Redis broker is ${status$.value}`);
      }
      let raw: string;
      try {
        raw = `q${JSON.stringify(req)}`;
      } catch (e) {
        log.error('sente-rx/redis: request could not be serialized (JSON)', { id: req.id, error: errText(e) });
        return answerLocally('chsk/error', `request could not be serialized: ${errText(e)}`);
      }
      track(cmd.publish(keys.uidChannel(req.uid), raw)).then(
        (receivers) => {
          if (receivers === 0) answerLocally('chsk/closed', NO_HOLDER_MESSAGE);
        },
        (e: unknown) => {
          drop('request', e, { id: req.id, uid: req.uid });
          answerLocally('chsk/error', `Redis unavailable: ${errText(e)}`);
        },
      );
    },

    reply(rep) {
      if (closed) return;
      const n = node;
      if (n !== undefined && rep.to === n.nodeId) return safely('reply', () => n.reply(rep));
      if (status$.value !== 'ready') return drop('reply', new Error(`Redis broker is ${status$.value}`), { id: rep.id, to: rep.to });
      let raw: string;
      try {
        raw = `r${JSON.stringify(rep)}`;
      } catch (e) {
        raw = `r${JSON.stringify({ id: rep.id, to: rep.to, outcome: { ok: false, code: 'chsk/error', message: `reply could not be serialized: ${errText(e)}` } })}`;
      }
      track(cmd.publish(keys.nodeChannel(rep.to), raw)).catch((e: unknown) => drop('reply', e, { id: rep.id, to: rep.to }));
    },

    localPresence(uid, on) {
      if (closed) return;
      const kinds = kindsOf(on);
      const was = local.get(uid) ?? '';
      if (was === kinds) return;
      const before = wanted(uid);
      if (kinds === '') local.delete(uid);
      else local.set(uid, kinds);
      retarget(uid, before);
      const subscribed = acks.get(uid);
      const n = node;
      if (n === undefined) return;
      // During an outage this fails; the resync after the reconnect writes the final state.
      const update = (presenceChains.get(uid) ?? Promise.resolve())
        .then(() => subscribed)
        .then(() => evalScript(SCRIPTS.presence, presenceKeys(n.nodeId), [uid, kinds, keys.presenceChannel]));
      presenceChains.set(uid, update);
      const forget = (): void => {
        if (presenceChains.get(uid) === update) presenceChains.delete(uid);
      };
      update.then(forget, forget);
      track(update)
        .then((flips) => {
          if (typeof flips === 'string') fireFlips([uid, flips]);
        })
        .catch((e: unknown) => log.debug('sente-rx/redis: presence update deferred to the next reconnect', { uid, error: errText(e) }));
    },

    interest(uid, on) {
      if (closed) return undefined;
      const before = wanted(uid);
      if (on) interested.add(uid);
      else interested.delete(uid);
      retarget(uid, before);
      const ack = on ? acks.get(uid) : undefined;
      if (ack === undefined) return undefined;
      if (status$.value !== 'ready') {
        // The SUBSCRIBE waits in ioredis' queue for the reconnect: the server does not wait for it.
        if (!ungatedLogged) log.warn('sente-rx/redis: Redis unavailable: a handshake goes out before its uid\'s SUBSCRIBE is live (sends to it until then may miss it)', { uid, status: status$.value });
        else log.debug('sente-rx/redis: handshake not held (Redis unavailable)', { uid });
        ungatedLogged = true;
        return undefined;
      }
      ungatedLogged = false;
      return unlessLost(ack);
    },

    // With the log off there is no history() / head(): the server then runs without recovery.
    ...(bounds === undefined ? {} : { history, head }),

    async settled() {
      // While Redis is down, queued (un)subscribes would hold this until it is back: resolve at
      // once instead (a history()/head() read after it then fails fast, and the server's recovery
      // start reports the log unreachable, so the client retries: PROTOCOL.md §11.5).
      if (conns.some((c) => c.status === 'reconnecting' || c.status === 'end')) return;
      // What is pending now; work those start themselves is awaited inside them. A lost
      // connection releases it through the shared gates (one 'close' listener per connection,
      // however many settled() calls wait at once).
      await unlessLost(Promise.allSettled([...pending]).then(() => undefined));
    },

    stats(): BrokerStats {
      return { published, delivered, dropped, reconnects, logged, received };
    },

    async close() {
      if (closed) return;
      clearInterval(timer);
      // While Redis is down, queued subscribes would keep settled() waiting for the reconnect.
      if (status$.value === 'ready') await broker.settled();
      // Goodbye: this node's uids leave cluster presence now rather than after the TTL.
      if (cmd.status === 'ready') await beat('bye').catch((e: unknown) => log.debug('sente-rx/redis: goodbye failed', { error: errText(e) }));
      closed = true;
      node = undefined;
      presence.close();
      status$.next('closed');
      status$.complete();
      await Promise.all(conns.map((c) => (c.status === 'ready' ? c.quit().then(() => undefined, () => c.disconnect()) : c.disconnect())));
    },
  };

  /** Recovery on: the events after `from` (the contract's `history`). */
  async function history(uid: Uid, clientId: string, fromArg: Position, limit: number): Promise<HistoryPage> {
    const from = validPosition(fromArg);
    const max = validLimit(limit);
    let r = await readLog(uid, from, max);
    const first = buildPage(r.epoch, clientId, from, max, r.u, r.g);
    if (from.epoch !== r.epoch) return first;
    const epoch = r.epoch;
    const events = [...first.events];
    let at = first.position;
    // Events for other clients use up XRANGE counts: read on until `max` events or the head.
    while (events.length < max && !(r.u.exhausted && r.g.exhausted)) {
      r = await readLog(uid, at, max - events.length);
      if (r.epoch !== epoch) break;
      const page = buildPage(epoch, clientId, at, max - events.length, r.u, r.g);
      if (page.position.u === at.u && page.position.g === at.g) break;
      events.push(...page.events);
      at = page.position;
    }
    return { events, complete: first.complete, position: at };
  }

  /** Recovery on: the contract's `head`. */
  async function head(uid: Uid): Promise<Position> {
    const r = await readLog(uid, { epoch: '', u: 0, g: 0 }, 0);
    return { epoch: r.epoch, u: r.u.head, g: r.g.head };
  }

  const readLog = async (uid: Uid, from: Position, count: number): Promise<{ epoch: string; u: StreamSlice; g: StreamSlice }> => {
    // Not before Redis was reached (or while it is lost): fail fast, the caller retries later.
    if (status$.value !== 'ready') throw new Error(`Redis broker is ${status$.value}: the log cannot be read`);
    const b = bounds ?? { maxAgeMs: 1, metaTtlMs: 1 };
    const out = (await evalScript(SCRIPTS.read, [keys.uidMeta(uid), keys.uidStream(uid), keys.broadcastMeta, keys.broadcastStream], [gen(), gen(), from.u, from.g, count, b.maxAgeMs, b.metaTtlMs])) as [
      string,
      number,
      number,
      string,
      number,
      number,
      RawEntry[],
      RawEntry[],
    ];
    const [gu, su, fu, gg, sg, fg, eu, eg] = out;
    const slice = (head: number, floor: number, raw: RawEntry[]): StreamSlice => {
      const entries = raw.map(parseEntry);
      return { entries, head, floor, exhausted: count === 0 || raw.length < count || (entries[entries.length - 1]?.seq ?? head) >= head };
    };
    return { epoch: `${gg}.${gu}`, u: slice(su, fu, eu), g: slice(sg, fg, eg) };
  };

  return broker;
}

function parseEntry([id, fields]: RawEntry): StoredEvent {
  let event: ChskEvent = ['chsk/bad-log-entry'];
  let clientId: string | undefined;
  let order = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const v = fields[i + 1] ?? '';
    if (fields[i] === 'e') event = JSON.parse(v) as ChskEvent;
    else if (fields[i] === 'c') clientId = v;
    else if (fields[i] === 'o') order = Number(v);
  }
  const seq = Number(id.slice(0, id.indexOf('-')));
  return clientId === undefined ? { seq, event, order } : { seq, event, clientId, order };
}

function redacted(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}


