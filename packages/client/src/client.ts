/**
 * The client both entries share (Sente's `make-channel-socket-client!`): one channel to the
 * server, with request/reply, reconnects with capped full-jitter backoff, keep-alive, and the
 * state map as `[old, new]` pairs.
 *
 * This file composes the parts: the request manager (requests.ts), the connection manager
 * (connection.ts), the keep-alive (keep-alive.ts), and keeps the state map. What only some apps
 * need comes in as `ClientFeatures` from the entry (issue 10): `@sente-rx/client` (full-client.ts)
 * passes the Ajax transport, the `auto` policy, recovery and server→client requests;
 * `@sente-rx/client/ws` (ws.ts) passes WebSocket only, so a bundler leaves the rest out.
 */
import {
  assertEvent,
  ChskError,
  type ChskEvent,
  type ChskState,
  CloseCode,
  type CloseReason,
  type ContractChecks,
  contractChecks,
  type EventContract,
  type EventId,
  fullJitterBackoff,
  type Logger,
  initialState,
  isReservedId,
  jsonPacker,
  onAjaxError,
  onAjaxSuccess,
  onClosed,
  onHandshake,
  onReconnectScheduled,
  onUnauthorized,
  onWsClose,
  onWsError,
  randomUuid,
  type RequestedType,
  ReservedId,
  reservedSendAllowed,
  type ServerMessage,
  consoleLogger,
  type StatePair,
  transition,
  type UntypedContract,
  WS_PING,
  WS_PONG,
} from '@sente-rx/core';
import { EMPTY, Observable, type SchedulerLike, type Subscription, throwError } from 'rxjs';
import { firstSubscriberHub, valueHub } from './hub.js';
import type { AutoInput } from './auto-policy.js';
import { type Connection, createConnection } from './connection.js';
import { keepAlive } from './keep-alive.js';
import { rateLimitedWarn } from './log-limit.js';
import type { RecoveryTracker } from './recovery.js';
import { closedError, createRequests, requestError } from './requests.js';
import { SERVER_REQUEST_ID, type ServerRequestOutcome, type ServerRequestsConfig } from './server-requests.js';
import type {
  ChannelSocketClient,
  ClientEventMsg,
  ClientOptions,
  ClientSendFn,
  ClientSendOptions,
  CsrfToken,
  Transport,
  TransportEvent,
  TransportFactory,
} from './types.js';

/** `auto` for one client: which transport to use next, and what a connection's fate means for it. */
export interface AutoDriver {
  readonly useAjax: boolean;
  /** Feeds the policy (it may remember a fallback); true: fall back to Ajax now. */
  feed(input: AutoInput): boolean;
}

/** What an entry puts into the shared client (issue 10): what it leaves out never reaches its bundle. */
export interface ClientFeatures {
  /** The scheduler without `opts.scheduler`. */
  readonly scheduler: SchedulerLike;
  /** The values `type` accepts; the first is the default. */
  readonly types: readonly RequestedType[];
  /** `types` for an error message: "'auto', 'ws' or 'ajax'". */
  readonly typeNames: string;
  /** The built-in transports for `requested` (checks the options; throws TypeError). */
  readonly transports: (path: string, requested: RequestedType, opts: ClientOptions) => { factory: TransportFactory; wsAvailable: boolean };
  /** `auto` (only asked for when `types` has it). */
  readonly auto?: (path: string, opts: ClientOptions, wsAvailable: boolean, flakyWindowMs: number) => AutoDriver;
  /**
   * Recovery (PROTOCOL.md §11). Both entries have it: a client without it would have to leave
   * `pos` out of its URLs, and `TransportContext.position` has no value that says so.
   */
  readonly recovery: (logger: Logger) => RecoveryTracker;
  /** Server→client requests (PROTOCOL.md §9): what to do with one `chsk/req` entry. */
  readonly serverRequests: (cfg: ServerRequestsConfig) => (data: unknown) => ServerRequestOutcome;
}

const SENT = { kind: 'sent' } as const;
const BROKEN = { kind: 'broken' } as const;

/** Sente's client receive buffer: `(async/sliding-buffer 2048)`. */
export const DEFAULT_RECV_BUFFER_SIZE = 2_048;

/** `createChannelSocketClient` of both entries, with the entry's features. */
export function createClient<C extends EventContract = UntypedContract>(
  path: string,
  csrfToken: CsrfToken,
  opts: ClientOptions & { readonly events?: C },
  features: ClientFeatures,
): ChannelSocketClient<C> & { readonly pendingRequests: number } {
  const types = features.types;
  const requested: RequestedType = opts.type ?? (types[0] as RequestedType);
  if (!types.includes(requested)) throw new TypeError(`type must be ${features.typeNames}, got ${String(requested)}`);
  const clientId = opts.clientId ?? randomUuid();
  if (clientId === '') throw new TypeError('clientId must not be empty');
  const packer = opts.packer ?? jsonPacker;
  const logger = opts.logger ?? consoleLogger;
  const scheduler = opts.scheduler ?? features.scheduler;
  const keepAliveMs = opts.wsKeepAliveMs ?? 20_000; // 20 s
  const pingTimeoutMs = opts.wsPingTimeoutMs ?? 5_000; // 5 s
  const flakyWindowMs = opts.wsFlakyWindowMs ?? 5_000; // 5 s
  const stableMs = opts.stableMs ?? 5_000; // 5 s
  const maxBufferedBytes = opts.maxBufferedBytes ?? 8 * 1_048_576; // 8 MiB, as the server's
  if (!(stableMs >= 0 && Number.isFinite(stableMs))) throw new TypeError(`stableMs must be a finite number >= 0, got ${String(stableMs)}`);
  if (!(maxBufferedBytes > 0)) throw new TypeError(`maxBufferedBytes must be > 0, got ${String(maxBufferedBytes)}`);
  const wrap = opts.wrapRecvEvs === true;
  const now = (): number => scheduler.now();
  // The contract's validation comes with the contract (defineEvents), so an app without one does not bundle it.
  const checks = contractChecks(opts.events);
  if (opts.events !== undefined && checks === undefined) throw new TypeError('events must be a contract made by defineEvents');
  /** The contract to validate what the server sends against: none without one, or when the server is trusted. */
  const checking: ContractChecks | undefined = opts.trustServer === true ? undefined : checks;

  const csrf = (): string | undefined => {
    const t = typeof csrfToken === 'function' ? csrfToken() : csrfToken;
    return t === null || t === undefined || t === '' ? undefined : t;
  };
  const custom = opts.transport;
  const { factory, wsAvailable } = custom === undefined ? features.transports(path, requested, opts) : { factory: custom, wsAvailable: true };
  /** `auto` only. */
  const auto: AutoDriver | null = requested === 'auto' && features.auto !== undefined ? features.auto(path, opts, wsAvailable, flakyWindowMs) : null;
  if (keepAliveMs < 0 || pingTimeoutMs < 0) throw new TypeError('wsKeepAliveMs and wsPingTimeoutMs must be >= 0');

  // Untyped inside; the contract's types hold for what leaves because of the validation below.
  const recvBufferSize = opts.recvBufferSize ?? DEFAULT_RECV_BUFFER_SIZE;
  const recv = firstSubscriberHub<ClientEventMsg>(recvBufferSize, (n) => {
    if (n === 1) logger.warn('sente-rx: recv$ has no subscriber yet and its buffer is full; dropping the oldest events', { recvBufferSize });
  });
  const init = initialState(requested);
  const state$ = valueHub<StatePair>([init, init]);
  const state = (): ChskState => state$.value[1];
  const requests = createRequests(scheduler, logger);
  const warnLimited = rateLimitedWarn(logger, scheduler);
  const recovery = features.recovery(logger);
  let keepAliveSub: Subscription | null = null;
  /** Traffic since the keep-alive's last tick: a flag, not a clock read per message (issue 10). */
  let heard = false;
  let everHandshaken = false;
  let closedForGood = false;
  /** The current connection: its transport opened / handshook. */
  let connOpened = false;
  let connHandshaken = false;
  /** `state().open`, kept by setState: read on every send. */
  let open = false;

  // ---- state and events ------------------------------------------------------------------------

  const setState = (next: ChskState): void => {
    const pair = transition(state(), next);
    if (pair === undefined) return;
    if (pair[1].opened) logger.info('sente-rx: channel open', { type: pair[1].type, uid: pair[1].uid });
    if (pair[1].closed) {
      const reason = pair[1].lastClose?.reason;
      const asked = reason === 'requested-disconnect' || reason === 'requested-reconnect';
      logger[asked ? 'info' : 'warn']('sente-rx: channel closed', { reason });
    }
    open = pair[1].open;
    state$.next(pair);
    emit([ReservedId.STATE, pair]);
  };
  const emit = (event: ChskEvent, reply?: (value: unknown) => void): void =>
    recv.next(reply === undefined ? { event, id: event[0], data: event[1], send } : { event, id: event[0], data: event[1], send, reply });
  const closed = (reason: CloseReason): void => setState(onClosed(state(), reason, now()));

  /** Feeds the `auto` policy; returns whether to fall back now. */
  const autoFeed = (input: AutoInput): boolean => auto?.feed(input) === true;

  // ---- connecting ------------------------------------------------------------------------------

  const onEvent = (t: Transport, ev: TransportEvent): void => {
    switch (ev.kind) {
      case 'open':
        connOpened = true;
        if (connHandshaken) setState(onAjaxSuccess(state())); // the channel answered, so it is open
        return;
      case 'message':
        received(t, ev.message);
        return;
      case 'reply':
        replied(ev.cbId, ev.value);
        return;
      case 'error':
        setState(onWsError(state(), now(), ev.message));
        return;
      case 'closed':
        lost(t, ev);
        return;
    }
  };

  const connection: Connection = createConnection({
    scheduler,
    backoff: opts.backoffMs ?? fullJitterBackoff(),
    stableMs,
    logger,
    make: () => {
      connOpened = connHandshaken = false;
      const type = requested === 'auto' ? (auto?.useAjax === true ? 'ajax' : 'ws') : requested;
      // What is handed over directly counts only while this connection is the current one, as its
      // events do (`self` is undefined while the factory runs: nothing counts before it returns).
      // eslint-disable-next-line prefer-const -- the closures below are made before the factory returns it
      let self: Transport | undefined;
      const reply = (cbId: string, value: unknown): void => {
        if (self !== undefined && connection.current === self) replied(cbId, value);
      };
      const receive = (message: ServerMessage): void => {
        if (self !== undefined && connection.current === self) received(self, message);
      };
      self = factory({ type, clientId, packer, logger, scheduler, isOpen: () => open, csrfToken: csrf, maxBufferedBytes, position: recovery.queryValue, reply, receive });
      return self;
    },
    onEvent,
  });

  /** A reply to one of our requests, from a `reply` event, a `reply` message or `TransportContext.reply`. */
  const replied = (cbId: string, value: unknown): void => {
    heard = true;
    requests.settle(cbId, value);
  };

  const received = (t: Transport, msg: ServerMessage): void => {
    heard = true;
    switch (msg.kind) {
      case 'handshake': {
        connection.opened(); // the backoff resets once this connection proves stable
        connHandshaken = true;
        autoFeed({ kind: 'opened', type: t.type, at: now() });
        const first = !everHandshaken;
        everHandshaken = true;
        const recovered = recovery.onHandshake(msg.recovery);
        setState(onHandshake(state(), { type: t.type, uid: msg.uid, handshakeData: msg.handshakeData, recovered }));
        // `recovered` (PROTOCOL.md §11) stays the LAST element, whatever the layout before it.
        emit([ReservedId.HANDSHAKE, recovered === undefined ? [msg.uid, msg.handshakeData, first] : [msg.uid, msg.handshakeData, first, recovered]]);
        if (t.keepAlive) startKeepAlive();
        return;
      }
      case 'batch':
        for (const ev of recovery.filter(msg.events)) pushed(ev);
        return;
      case 'ping':
        transmit(t, [WS_PONG], null);
        emit([WS_PING]);
        return;
      case 'reply':
        requests.settle(msg.cbId, msg.value); // heard: set above
        return;
      case 'lp-timeout':
        return;
    }
  };

  /** Replies to server requests go out on whatever connection is current when the app answers. */
  const serverRequest = features.serverRequests({
    checking,
    logger,
    transmit: (event) => {
      const t = connection.current;
      if (!open || t === null) return 'closed';
      const outcome = transmit(t, event, null);
      if (outcome.kind === 'broken') restart('ws-error');
      return outcome.kind === 'broken' ? 'closed' : outcome.kind;
    },
  });

  /** One entry of a push batch: a push, a server request, a refused request's issues, or a reserved id (ignored). */
  const pushed = (ev: ChskEvent): void => {
    if (ev[0] === SERVER_REQUEST_ID) {
      const req = serverRequest(ev[1]);
      if (req.kind === 'deliver') emit(req.event, req.reply); // never wrapped: it carries `reply`
      return;
    }
    if (ev[0] === ReservedId.ISSUES) {
      requests.noteIssues(ev[1]); // why the server refuses a pending request; its chsk/error reply follows (PROTOCOL.md §8)
      return;
    }
    if (ev[0] === ReservedId.BAD_EVENT) {
      // Without a contract, kept as Sente does; a contract's recv$ carries only what it lists.
      if (checking !== undefined) logger.warn('sente-rx: dropped a malformed server push', { data: ev[1] });
      else emit(ev);
      return;
    }
    if (isReservedId(ev[0])) {
      logger.warn('sente-rx: ignored a server push with a reserved chsk/ id', { id: ev[0] });
      return;
    }
    let event = ev;
    if (checking !== undefined) {
      const checked = checking.incoming('server', ev);
      if (!checked.ok) {
        logger.warn('sente-rx: dropped a server push that failed validation', { id: ev[0], issues: checked.issues });
        return;
      }
      event = checked.value;
    }
    // emit's message, built here: one closure fewer per push (the same shape, so recv$ stays monomorphic).
    const out: ChskEvent = wrap ? [ReservedId.RECV, event] : event;
    recv.next({ event: out, id: out[0], data: out[1], send });
  };

  /** The transport closed by itself. */
  const lost = (t: Transport, ev: Extract<TransportEvent, { kind: 'closed' }>): void => {
    connection.drop();
    stopKeepAlive();
    requests.failAll();
    const at = now();
    // The state map's lastWsClose describes WebSocket closes only (Sente's semantics).
    if (t.type === 'ws') setState(onWsClose(state(), { udt: at, code: ev.code, reason: ev.reason, clean: ev.clean }));
    else if (ev.bufferFull !== true) setState(onAjaxError(state(), at, ev.status ?? 0));
    if (ev.status === 401 || ev.status === 403) {
      // Retrying cannot help until the app has a new session or token (Sente #405, #479).
      logger.warn('sente-rx: the server refused the channel (HTTP ' + String(ev.status) + '): not reconnecting until reconnect()', { type: t.type, status: ev.status });
      setState(onUnauthorized(state(), ev.status, at));
      return;
    }
    const neverOpened = t.type === 'ws' ? !connOpened : !connHandshaken;
    if (neverOpened) {
      // A failure on every attempt (a wrong path: 404s; an upgrade nobody answers) is visible, once a minute.
      warnLimited(`${t.type}:${String(ev.status ?? ev.code)}`, `sente-rx: could not connect over ${t.type === 'ws' ? 'WebSocket' : 'Ajax'}${ev.status === undefined ? '' : ` (HTTP ${String(ev.status)})`}; retrying with backoff`, {
        code: ev.code,
        reason: ev.reason,
        ...(ev.status === undefined ? {} : { status: ev.status }),
      });
    }
    if (autoFeed({ kind: 'closed', type: t.type, everOpened: t.type === 'ws' ? connOpened : connHandshaken, clean: ev.clean, answered: ev.status !== undefined, at })) {
      logger.warn('sente-rx: falling back from WebSocket to Ajax long-polling', { code: ev.code, error: ev.reason });
      closed('downgrading-ws-to-ajax');
      connection.connect(); // at once; the backoff keeps counting (a down server must not be hammered)
      return;
    }
    closed(ev.bufferFull === true ? 'send-buffer-full' : ev.clean ? 'clean' : 'unexpected');
    scheduleRetry();
  };

  const scheduleRetry = (): void => {
    const due = connection.retry();
    if (due !== undefined) setState(onReconnectScheduled(state(), due));
  };

  /** Drop the current transport and connect again by the backoff (ping timeout, send failure). */
  const restart = (reason: CloseReason): void => {
    connection.drop({ code: CloseCode.NORMAL, reason });
    stopKeepAlive();
    requests.failAll();
    closed(reason);
    scheduleRetry();
  };

  // ---- keep-alive (WebSocket) --------------------------------------------------------------------

  const startKeepAlive = (): void => {
    stopKeepAlive();
    if (keepAliveMs <= 0) return;
    heard = false;
    keepAliveSub = keepAlive({
      intervalMs: keepAliveMs / 2, // Sente #455: halving bounds the idle time by the configured value
      heard: () => {
        const h = heard;
        heard = false;
        return h;
      },
      ping: () => request([WS_PING], pingTimeoutMs),
      scheduler,
    }).subscribe(() => {
      logger.warn('sente-rx: no pong within wsPingTimeoutMs; reconnecting');
      restart('ws-ping-timeout');
    });
  };
  const stopKeepAlive = (): void => {
    keepAliveSub?.unsubscribe();
    keepAliveSub = null;
  };

  // ---- requests ----------------------------------------------------------------------------------

  type Outcome = { readonly kind: 'sent' | 'broken' } | { readonly kind: 'unpackable'; readonly error: ChskError };

  /** Hands an envelope to the transport: sent, unpackable (only that send fails) or broken (the connection cannot carry it). */
  const transmit = (t: Transport, event: ChskEvent, cbId: string | null): Outcome => {
    let ok: boolean;
    try {
      ok = t.send(event, cbId);
    } catch (err) {
      logger.warn('sente-rx: an event could not be packed', { id: event[0], err });
      return { kind: 'unpackable', error: new ChskError('chsk/error', `the event ${event[0]} could not be packed`, { cause: err }) };
    }
    if (!ok) return BROKEN;
    heard = true;
    return SENT;
  };

  const request = (event: ChskEvent, timeoutMs: number): Observable<unknown> => {
    const t = connection.current;
    if (!open || t === null) return throwError(closedError);
    const req = requests.open(timeoutMs);
    const outcome = transmit(t, event, req.cbId);
    if (outcome === SENT) return req;
    requests.settle(req.cbId, 'chsk/error');
    if (outcome.kind === 'unpackable') return throwError(() => outcome.error);
    restart('ws-error'); // req is settled already (chsk/error), so failing the rest leaves it alone
    return req;
  };

  /** With a contract, the reply to `id` must pass its schema; the Observable carries the schema's output. */
  const checkedReply = (id: EventId, reply: Observable<unknown>): Observable<unknown> => {
    if (checking === undefined) return reply;
    // What `map` would do, without the operator machinery in the bundle.
    return new Observable((s) =>
      reply.subscribe({
        next: (value) => {
          let checked;
          try {
            checked = checking.reply('client', id, value);
          } catch (err) {
            return s.error(err);
          }
          if (checked.ok) return s.next(checked.value);
          logger.warn('sente-rx: a reply failed validation', { id, issues: checked.issues });
          s.error(checking.error(id, checked.issues));
        },
        error: (e: unknown) => s.error(e),
        complete: () => s.complete(),
      }),
    );
  };

  /** The id of the last event `send` checked: an app sends few ids, so the id's pattern is checked once per change of id. */
  let checkedId: string | undefined;
  const send = (event: ChskEvent, o?: ClientSendOptions): Observable<unknown> => {
    if (!(Array.isArray(event) && (event.length === 1 || event.length === 2) && event[0] === checkedId)) {
      assertEvent(event, 'send(event): event');
      if (!reservedSendAllowed('client', event[0])) throw new TypeError(`send(event): ids in the chsk/ namespace are reserved (got ${event[0]})`);
      checkedId = event[0];
    }
    const timeoutMs = o?.timeoutMs;
    if (timeoutMs === undefined) {
      const t = connection.current;
      if (!open || t === null) return throwError(closedError);
      const outcome = transmit(t, event, null);
      if (outcome.kind === 'sent') return EMPTY;
      if (outcome.kind === 'unpackable') return throwError(() => outcome.error);
      restart('ws-error');
      return throwError(() => requestError('chsk/error', 'the transport could not send'));
    }
    if (!(typeof timeoutMs === 'number' && timeoutMs >= 0 && Number.isFinite(timeoutMs))) {
      throw new TypeError(`send(event, { timeoutMs }): timeoutMs must be a finite number >= 0, got ${String(timeoutMs)}`);
    }
    // An id outside the contract fails the reply check like a bad value does.
    return checkedReply(event[0] as EventId, request(event, timeoutMs));
  };

  // ---- lifecycle -----------------------------------------------------------------------------------

  const teardown = (reason: CloseReason): void => {
    connection.cancelRetry();
    stopKeepAlive();
    connection.drop({ code: CloseCode.NORMAL, reason });
    requests.failAll();
    closed(reason);
  };
  const disconnect = (): void => {
    if (closedForGood) return;
    connection.stopped = true;
    teardown('requested-disconnect');
  };

  if (csrfToken === null || csrfToken === undefined) logger.warn('sente-rx: no CSRF token given; the server must skip its CSRF check');
  connection.connect();

  return {
    // The contract's types: what recv$ and the replies carry passed its schemas (or the server is trusted).
    recv$: recv.asObservable() as Observable<ClientEventMsg<C>>,
    send: send as ClientSendFn<C>,
    state$: state$.readonly,
    get state() {
      return state();
    },
    clientId,
    get pendingRequests() {
      return requests.size;
    },
    disconnect,
    reconnect() {
      if (closedForGood) return;
      teardown('requested-reconnect');
      connection.stopped = false;
      connection.resetBackoff();
      // `auto`: try WebSocket again; a remembered fallback is forgotten until WebSocket fails again.
      autoFeed({ kind: 'reset', wsAvailable });
      connection.connect();
    },
    close() {
      if (closedForGood) return;
      disconnect();
      closedForGood = true;
      recv.complete();
      state$.complete();
    },
    breakConnection(o) {
      connection.current?.simulateNetworkFailure(o?.silent === true);
    },
  };
}
