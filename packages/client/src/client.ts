/**
 * createChannelSocketClient (Sente's `make-channel-socket-client!`): one channel to the server
 * over WebSocket, Ajax long-polling, or `auto` (WebSocket first, Ajax when it fails), with
 * request/reply, reconnects with capped full-jitter backoff, keep-alive, and the state map as
 * `[old, new]` pairs.
 *
 * This file composes the parts: the request manager (requests.ts), the connection manager
 * (connection.ts), the keep-alive (keep-alive.ts), the `auto` policy (auto-policy.ts) and the
 * transports (transports/), and keeps the state map.
 */
import {
  assertEvent,
  type ChskEvent,
  type ChskState,
  CloseCode,
  type CloseReason,
  fullJitterBackoff,
  initialState,
  isReservedId,
  jsonPacker,
  onAjaxSuccess,
  onClosed,
  onHandshake,
  onReconnectScheduled,
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
  WS_PING,
  WS_PONG,
} from '@sente-rx/core';
import { asyncScheduler, EMPTY, type Observable, type Subscription, throwError } from 'rxjs';
import { hub, valueHub } from './hub.js';
import { type AutoState, autoStep, initialAutoState } from './auto-policy.js';
import { type Connection, createConnection } from './connection.js';
import { defaultStorage, fallbackMemory } from './fallback-storage.js';
import { keepAlive } from './keep-alive.js';
import { closedError, createRequests, requestError } from './requests.js';
import { builtInTransports } from './transports/built-in.js';
import type {
  ChannelSocketClient,
  ClientEventMsg,
  ClientOptions,
  ClientSendOptions,
  CsrfToken,
  Transport,
  TransportEvent,
} from './types.js';

/**
 * Creates a channel socket client. `csrfToken` is the server's token for this session (a string,
 * or a function re-read on every connect and send); `null` when the server skips the check.
 */
export function createChannelSocketClient(path: string, csrfToken: CsrfToken, opts: ClientOptions = {}): ChannelSocketClient & { readonly pendingRequests: number } {
  const requested: RequestedType = opts.type ?? 'auto';
  if (!['auto', 'ws', 'ajax'].includes(requested)) throw new TypeError(`type must be 'auto', 'ws' or 'ajax', got ${String(requested)}`);
  const clientId = opts.clientId ?? randomUuid();
  if (clientId === '') throw new TypeError('clientId must not be empty');
  const packer = opts.packer ?? jsonPacker;
  const logger = opts.logger ?? consoleLogger;
  const scheduler = opts.scheduler ?? asyncScheduler;
  const keepAliveMs = opts.wsKeepAliveMs ?? 20_000; // 20 s
  const pingTimeoutMs = opts.wsPingTimeoutMs ?? 5_000; // 5 s
  const flakyWindowMs = opts.wsFlakyWindowMs ?? 5_000; // 5 s
  const wrap = opts.wrapRecvEvs === true;
  const fallback = fallbackMemory(opts.storage === undefined ? defaultStorage() : opts.storage, path);
  const now = (): number => scheduler.now();

  const csrf = (): string | undefined => {
    const t = typeof csrfToken === 'function' ? csrfToken() : csrfToken;
    return t === null || t === undefined || t === '' ? undefined : t;
  };
  const custom = opts.transport;
  const { factory, wsAvailable } = custom === undefined ? builtInTransports(path, requested, opts) : { factory: custom, wsAvailable: true };
  /** `auto` only. */
  let auto: AutoState | null = requested === 'auto' ? initialAutoState(!wsAvailable || fallback.remembered()) : null;
  if (keepAliveMs < 0 || pingTimeoutMs < 0) throw new TypeError('wsKeepAliveMs and wsPingTimeoutMs must be >= 0');

  const recv = hub<ClientEventMsg>();
  const init = initialState(requested);
  const state$ = valueHub<StatePair>([init, init]);
  const state = (): ChskState => state$.value[1];
  const requests = createRequests(scheduler, logger);
  let keepAliveSub: Subscription | null = null;
  let lastComms = 0;
  let everHandshaken = false;
  let closedForGood = false;
  /** The current connection: its transport opened / handshook. */
  let connOpened = false;
  let connHandshaken = false;

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
    state$.next(pair);
    emit([ReservedId.STATE, pair]);
  };
  const emit = (event: ChskEvent): void => recv.next({ event, id: event[0], data: event[1], send });
  const closed = (reason: CloseReason): void => setState(onClosed(state(), reason, now()));

  /** Feeds the `auto` policy; acts on its storage decision and returns whether to fall back now. */
  const autoFeed = (input: Parameters<typeof autoStep>[1]): boolean => {
    if (auto === null) return false;
    const step = autoStep(auto, input, flakyWindowMs);
    auto = step.state;
    if (step.remember !== undefined) fallback.remember(step.remember);
    return step.downgrade;
  };

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
        requests.settle(ev.cbId, ev.value);
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
    make: () => {
      connOpened = connHandshaken = false;
      const type = requested === 'auto' ? (auto?.useAjax === true ? 'ajax' : 'ws') : requested;
      return factory({ type, clientId, packer, logger, scheduler, isOpen: () => state().open, csrfToken: csrf });
    },
    onEvent,
  });

  const received = (t: Transport, msg: ServerMessage): void => {
    lastComms = now();
    switch (msg.kind) {
      case 'handshake': {
        connection.resetBackoff();
        connHandshaken = true;
        autoFeed({ kind: 'opened', type: t.type, at: now() });
        const first = !everHandshaken;
        everHandshaken = true;
        setState(onHandshake(state(), { type: t.type, uid: msg.uid, handshakeData: msg.handshakeData }));
        emit([ReservedId.HANDSHAKE, [msg.uid, msg.handshakeData, first]]);
        if (t.keepAlive) startKeepAlive();
        return;
      }
      case 'batch':
        for (const ev of msg.events) {
          if (isReservedId(ev[0]) && ev[0] !== ReservedId.BAD_EVENT) {
            logger.warn('sente-rx: ignored a server push with a reserved chsk/ id', { id: ev[0] });
            continue;
          }
          emit(wrap ? [ReservedId.RECV, ev] : ev);
        }
        return;
      case 'ping':
        transmit(t, [WS_PONG], null);
        emit([WS_PING]);
        return;
      case 'reply':
        requests.settle(msg.cbId, msg.value);
        return;
      case 'lp-timeout':
        return;
    }
  };

  /** The transport closed by itself. */
  const lost = (t: Transport, ev: Extract<TransportEvent, { kind: 'closed' }>): void => {
    connection.drop();
    stopKeepAlive();
    requests.failAll();
    const at = now();
    // The state map's lastWsClose describes WebSocket closes only (Sente's semantics).
    if (t.type === 'ws') setState(onWsClose(state(), { udt: at, code: ev.code, reason: ev.reason, clean: ev.clean }));
    if (autoFeed({ kind: 'closed', type: t.type, everOpened: connOpened, clean: ev.clean, at })) {
      logger.warn('sente-rx: falling back from WebSocket to Ajax long-polling', { code: ev.code, error: ev.reason });
      closed('downgrading-ws-to-ajax');
      connection.resetBackoff();
      connection.connect();
      return;
    }
    closed(ev.clean ? 'clean' : 'unexpected');
    const due = connection.retry();
    if (due !== undefined) setState(onReconnectScheduled(state(), due));
  };

  /** Drop the current transport and connect again at once (ping timeout, send failure). */
  const restart = (reason: CloseReason): void => {
    connection.drop({ code: CloseCode.NORMAL, reason });
    stopKeepAlive();
    requests.failAll();
    closed(reason);
    connection.resetBackoff();
    connection.connect();
  };

  // ---- keep-alive (WebSocket) --------------------------------------------------------------------

  const startKeepAlive = (): void => {
    stopKeepAlive();
    if (keepAliveMs <= 0) return;
    lastComms = now();
    keepAliveSub = keepAlive({
      intervalMs: keepAliveMs / 2, // Sente #455: halving bounds the idle time by the configured value
      lastComms: () => lastComms,
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

  /** Hands an envelope to the transport: 'sent', 'unpackable' (that send fails) or 'broken' (the connection cannot carry it). */
  const transmit = (t: Transport, event: ChskEvent, cbId: string | null): 'sent' | 'unpackable' | 'broken' => {
    let ok: boolean;
    try {
      ok = t.send(event, cbId);
    } catch (err) {
      logger.warn('sente-rx: an event could not be packed', { err });
      return 'unpackable';
    }
    if (!ok) return 'broken';
    lastComms = now();
    return 'sent';
  };

  const request = (event: ChskEvent, timeoutMs: number): Observable<unknown> => {
    const t = connection.current;
    if (!state().open || t === null) return throwError(closedError);
    let broken = false;
    const result = requests.request((cbId) => {
      const outcome = transmit(t, event, cbId);
      broken = outcome === 'broken';
      return outcome === 'sent';
    }, timeoutMs);
    if (broken) restart('ws-error');
    return result;
  };

  const send = (event: ChskEvent, o?: ClientSendOptions): Observable<unknown> => {
    assertEvent(event, 'send(event): event');
    if (!reservedSendAllowed('client', event[0])) throw new TypeError(`send(event): ids in the chsk/ namespace are reserved (got ${event[0]})`);
    const timeoutMs = o?.timeoutMs;
    if (timeoutMs === undefined) {
      const t = connection.current;
      if (!state().open || t === null) return throwError(closedError);
      const outcome = transmit(t, event, null);
      if (outcome === 'sent') return EMPTY;
      if (outcome === 'broken') restart('ws-error');
      return throwError(() => requestError('chsk/error', 'the transport could not send'));
    }
    if (!(typeof timeoutMs === 'number' && timeoutMs >= 0 && Number.isFinite(timeoutMs))) {
      throw new TypeError(`send(event, { timeoutMs }): timeoutMs must be a finite number >= 0, got ${String(timeoutMs)}`);
    }
    return request(event, timeoutMs);
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
    recv$: recv.asObservable(),
    send,
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
