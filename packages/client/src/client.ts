/**
 * createChannelSocketClient (Sente's `make-channel-socket-client!`): one channel to the server
 * over WebSocket, Ajax long-polling, or `auto` (WebSocket first, Ajax when it fails), with
 * request/reply, reconnects with capped full-jitter backoff, keep-alive, and the state map as
 * `[old, new]` pairs.
 */
import {
  assertEvent,
  ChskError,
  type ChskEvent,
  type ChskState,
  type CloseReason,
  fullJitterBackoff,
  initialState,
  isReplyErrorValue,
  isReservedId,
  jsonPacker,
  type Logger,
  onAjaxSuccess,
  onClosed,
  onHandshake,
  onReconnectScheduled,
  onWsClose,
  onWsError,
  type Packer,
  PONG,
  randomUuid,
  readonlyBehaviorSubject,
  type RequestedType,
  type ServerMessage,
  silentLogger,
  type StatePair,
  transition,
  WS_PING,
  WS_PONG,
} from '@sente-rx/core';
import { AsyncSubject, asyncScheduler, BehaviorSubject, EMPTY, Observable, type SchedulerLike, Subject, type Subscription, throwError } from 'rxjs';
import { AjaxTransport } from './transports/ajax.js';
import { WebSocketTransport } from './transports/websocket.js';
import type {
  ChannelSocketClient,
  ClientEventMsg,
  ClientOptions,
  ClientSendOptions,
  CsrfToken,
  FetchLike,
  Transport,
  TransportHost,
  WebSocketConstructor,
} from './types.js';
import { channelUrl, withQuery } from './url.js';

interface Pending {
  readonly result: AsyncSubject<unknown>;
  readonly timer: Subscription;
}

type Storage = NonNullable<ClientOptions['storage']>;

function defaultStorage(): Storage | null {
  try {
    const s = (globalThis as { sessionStorage?: Storage }).sessionStorage;
    return s ?? null;
  } catch {
    return null; // sandboxed frames throw on access
  }
}

const closedError = (): ChskError => new ChskError('chsk/closed', 'the channel socket is closed');

class Client {
  readonly clientId: string;
  readonly recv = new Subject<ClientEventMsg>();
  readonly state$: BehaviorSubject<StatePair>;
  readonly sendFn: ChannelSocketClient['send'];

  readonly #requested: RequestedType;
  readonly #packer: Packer;
  readonly #logger: Logger;
  readonly #scheduler: SchedulerLike;
  readonly #backoff: (attempt: number) => number;
  readonly #keepAliveMs: number;
  readonly #pingTimeoutMs: number;
  readonly #flakyWindowMs: number;
  readonly #wrap: boolean;
  readonly #WebSocket: WebSocketConstructor | undefined;
  readonly #fetch: FetchLike | undefined;
  readonly #storage: Storage | null;
  readonly #storageKey: string;
  readonly #wsBase: string | undefined;
  readonly #ajaxBase: string | undefined;

  #csrf: CsrfToken;
  #pending = new Map<string, Pending>();
  #cbSeq = 0;
  #transport: Transport | null = null;
  /** Bumps on every connect, disconnect and reconnect: callbacks from older transports are ignored. */
  #gen = 0;
  #attempt = 0;
  #reconnectTimer: Subscription | null = null;
  #keepAlive: Subscription | null = null;
  #lastComms = 0;
  #everHandshaken = false;
  #stopped = false;
  #closedForGood = false;
  // auto
  #useAjax = false;
  #wsEverOpened = false;
  #wsOpenedAt = 0;
  #wsFlaky = 0;
  #rememberOnAjaxOpen = false;

  constructor(
    path: string,
    csrf: CsrfToken,
    private readonly opts: ClientOptions,
  ) {
    this.#requested = opts.type ?? 'auto';
    if (!['auto', 'ws', 'ajax'].includes(this.#requested)) throw new TypeError(`type must be 'auto', 'ws' or 'ajax', got ${String(this.#requested)}`);
    this.#csrf = csrf;
    this.clientId = opts.clientId ?? randomUuid();
    if (this.clientId === '') throw new TypeError('clientId must not be empty');
    this.#packer = opts.packer ?? jsonPacker;
    this.#logger = opts.logger ?? silentLogger;
    this.#scheduler = opts.scheduler ?? asyncScheduler;
    this.#backoff = opts.backoffMs ?? fullJitterBackoff();
    this.#keepAliveMs = opts.wsKeepAliveMs ?? 20_000; // 20 s
    this.#pingTimeoutMs = opts.wsPingTimeoutMs ?? 5_000; // 5 s
    this.#flakyWindowMs = opts.wsFlakyWindowMs ?? 5_000; // 5 s
    this.#wrap = opts.wrapRecvEvs === true;
    this.#WebSocket = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    this.#fetch = f === undefined ? undefined : (opts.fetch ?? ((input, init) => f(input, init)));
    this.#storage = opts.storage === undefined ? defaultStorage() : opts.storage;
    this.#storageKey = `sente-rx:ajax-fallback:${path}`;
    if (this.#requested !== 'ajax') {
      if (this.#WebSocket === undefined && this.#requested === 'ws') {
        throw new TypeError("no WebSocket constructor: pass options.WebSocket (on Node 20: import WebSocket from 'ws')");
      }
      this.#wsBase = channelUrl(path, opts, 'ws');
    }
    if (this.#requested !== 'ws') {
      if (this.#fetch === undefined) throw new TypeError('no fetch: pass options.fetch');
      this.#ajaxBase = channelUrl(path, opts, 'ajax');
    }
    if (this.#requested === 'auto') {
      this.#useAjax = this.#WebSocket === undefined || this.#remembered();
    }
    if (this.#keepAliveMs < 0 || this.#pingTimeoutMs < 0) throw new TypeError('wsKeepAliveMs and wsPingTimeoutMs must be >= 0');
    const init = initialState(this.#requested);
    this.state$ = new BehaviorSubject<StatePair>([init, init]);
    this.sendFn = (event, o) => this.send(event, o);
    if (csrf === null || csrf === undefined) this.#logger.warn('sente-rx: no CSRF token given; the server must skip its CSRF check');
    this.#connect();
  }

  get state(): ChskState {
    return this.state$.value[1];
  }

  get pendingRequests(): number {
    return this.#pending.size;
  }

  // ---- state and events ------------------------------------------------------------------------

  #setState(next: ChskState): void {
    const pair = transition(this.state, next);
    if (pair === undefined) return;
    if (pair[1].opened) this.#logger.info('sente-rx: channel open', { type: pair[1].type, uid: pair[1].uid });
    if (pair[1].closed) {
      const reason = pair[1].lastClose?.reason;
      const asked = reason === 'requested-disconnect' || reason === 'requested-reconnect';
      this.#logger[asked ? 'info' : 'warn']('sente-rx: channel closed', { reason });
    }
    this.state$.next(pair);
    this.#emit(['chsk/state', pair]);
  }

  #emit(event: ChskEvent): void {
    this.recv.next({ event, id: event[0], data: event[1], send: this.sendFn });
  }

  // ---- connecting ------------------------------------------------------------------------------

  #csrfToken(): string | undefined {
    const t = typeof this.#csrf === 'function' ? this.#csrf() : this.#csrf;
    return t === null || t === undefined || t === '' ? undefined : t;
  }

  #remembered(): boolean {
    try {
      return this.#storage?.getItem(this.#storageKey) === 'ajax';
    } catch {
      return false;
    }
  }

  #remember(ajax: boolean): void {
    try {
      if (ajax) this.#storage?.setItem(this.#storageKey, 'ajax');
      else this.#storage?.removeItem(this.#storageKey);
    } catch {
      // storage full or disabled: the fallback is then remembered for this client only
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    this.#reconnectTimer?.unsubscribe();
    this.#reconnectTimer = null;
    const gen = ++this.#gen;
    const ajax = this.#requested === 'ajax' || (this.#requested === 'auto' && this.#useAjax);
    const host = this.#host(gen);
    let t: Transport;
    if (ajax) {
      const base = this.#ajaxBase!;
      t = new AjaxTransport(host, {
        url: (q) => withQuery(base, this.opts.params, { 'client-id': this.clientId, ...q }),
        fetch: this.#fetch!,
        headers: () => {
          const token = this.#csrfToken();
          return { ...this.opts.headers, ...(token === undefined ? {} : { 'X-CSRF-Token': token }) };
        },
        timeoutMs: this.opts.ajaxTimeoutMs ?? 60_000, // 60 s, above the server's lpTimeoutMs
        now: () => Date.now(),
        logger: this.#logger,
      });
    } else {
      const base = this.#wsBase!;
      t = new WebSocketTransport(
        host,
        () => withQuery(base, this.opts.params, { 'client-id': this.clientId, 'csrf-token': this.#csrfToken() }),
        this.#WebSocket!,
        this.#logger,
        this.opts.wsConnectTimeoutMs ?? 10_000, // 10 s
        this.#scheduler,
      );
    }
    this.#transport = t;
    t.connect();
  }

  #host(gen: number): TransportHost {
    const live = (): boolean => gen === this.#gen && !this.#stopped;
    const packer = this.#packer;
    const client = this; // eslint-disable-line @typescript-eslint/no-this-alias
    return {
      packer,
      get open() {
        return client.state.open;
      },
      received: (msg) => {
        if (live()) this.#received(msg);
      },
      lost: (detail) => {
        if (live()) this.#lost(detail);
      },
      wsError: (message) => {
        if (live()) this.#setState(onWsError(this.state, Date.now(), message));
      },
      reply: (cbId, value) => {
        this.#settle(cbId, value); // a reply is a reply, whichever transport carried it
      },
      ajaxAlive: () => {
        if (live()) this.#setState(onAjaxSuccess(this.state));
      },
    };
  }

  #received(msg: ServerMessage): void {
    this.#lastComms = this.#scheduler.now();
    switch (msg.kind) {
      case 'handshake': {
        const t = this.#transport!;
        this.#attempt = 0;
        if (t.type === 'ws') {
          this.#wsEverOpened = true;
          this.#wsOpenedAt = this.#scheduler.now();
        } else if (this.#rememberOnAjaxOpen) {
          this.#rememberOnAjaxOpen = false;
          this.#remember(true);
        }
        const first = !this.#everHandshaken;
        this.#everHandshaken = true;
        this.#setState(onHandshake(this.state, { type: t.type, uid: msg.uid, handshakeData: msg.handshakeData }));
        this.#emit(['chsk/handshake', [msg.uid, msg.handshakeData, first]]);
        if (t.type === 'ws') this.#startKeepAlive();
        return;
      }
      case 'batch':
        for (const ev of msg.events) {
          if (isReservedId(ev[0]) && ev[0] !== 'chsk/bad-event') {
            this.#logger.warn('sente-rx: ignored a server push with a reserved chsk/ id', { id: ev[0] });
            continue;
          }
          this.#emit(this.#wrap ? ['chsk/recv', ev] : ev);
        }
        return;
      case 'ping':
        this.#transport?.send([WS_PONG], null);
        this.#emit([WS_PING]);
        return;
      case 'reply':
        this.#settle(msg.cbId, msg.value);
        return;
      case 'lp-timeout':
        return;
    }
  }

  #lost(detail: { code?: number; reason?: string; clean?: boolean; everOpened: boolean; error?: string }): void {
    const t = this.#transport;
    this.#transport = null;
    this.#stopKeepAlive();
    this.#failPending();
    const now = Date.now();
    if (t?.type === 'ws' && detail.code !== undefined) {
      this.#setState(onWsClose(this.state, { udt: now, code: detail.code, reason: detail.reason ?? '', clean: detail.clean === true }));
    }
    let reason: CloseReason = detail.clean === true ? 'clean' : 'unexpected';
    if (this.#requested === 'auto' && t?.type === 'ws' && this.#shouldDowngrade(detail.everOpened, detail.clean === true)) {
      this.#logger.warn('sente-rx: falling back from WebSocket to Ajax long-polling', { code: detail.code, error: detail.error });
      this.#useAjax = true;
      this.#rememberOnAjaxOpen = true; // not before Ajax works: the server may just be down
      reason = 'downgrading-ws-to-ajax';
      this.#setState(onClosed(this.state, reason, now));
      this.#attempt = 0;
      this.#connect();
      return;
    }
    this.#setState(onClosed(this.state, reason, now));
    this.#scheduleReconnect();
  }

  /**
   * `auto`: WebSocket never opened since the last reconnect(), or opened and then died abnormally
   * (no closing handshake: a middlebox, not the server) within `wsFlakyWindowMs`, twice in a row.
   * A clean close (the server's close(), `chsk/close`) never counts.
   */
  #shouldDowngrade(everOpened: boolean, clean: boolean): boolean {
    if (!everOpened || !this.#wsEverOpened) return !this.#wsEverOpened;
    const lived = this.#scheduler.now() - this.#wsOpenedAt;
    if (!clean && lived < this.#flakyWindowMs) this.#wsFlaky++;
    else this.#wsFlaky = 0;
    return this.#wsFlaky >= 2;
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    const delay = Math.max(0, this.#backoff(++this.#attempt));
    if (delay === 0) {
      this.#connect();
      return;
    }
    this.#setState(onReconnectScheduled(this.state, Date.now() + delay));
    this.#reconnectTimer = this.#scheduler.schedule(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, delay);
  }

  // ---- keep-alive (WebSocket) --------------------------------------------------------------------

  #startKeepAlive(): void {
    this.#stopKeepAlive();
    if (this.#keepAliveMs <= 0) return;
    const interval = this.#keepAliveMs / 2; // Sente #455: halving bounds the idle time by the configured value
    const gen = this.#gen;
    this.#lastComms = this.#scheduler.now();
    const tick = (): void => {
      if (gen !== this.#gen || this.#transport?.type !== 'ws') return;
      if (this.#scheduler.now() - this.#lastComms >= interval) this.#ping(gen);
    };
    this.#keepAlive = this.#scheduler.schedule(function (this: { schedule(s?: undefined, d?: number): Subscription }) {
      tick();
      this.schedule(undefined, interval);
    }, interval);
  }

  #stopKeepAlive(): void {
    this.#keepAlive?.unsubscribe();
    this.#keepAlive = null;
  }

  #ping(gen: number): void {
    const failed = (): void => {
      if (gen !== this.#gen || this.#stopped) return;
      this.#logger.warn('sente-rx: no pong within wsPingTimeoutMs; reconnecting');
      this.#restart('ws-ping-timeout');
    };
    this.#request([WS_PING], this.#pingTimeoutMs).subscribe({ next: (v) => v !== PONG && failed(), error: failed });
  }

  /** Drop the current transport and connect again at once (ping timeout, send failure). */
  #restart(reason: CloseReason): void {
    this.#transport?.stop(1000, reason);
    this.#transport = null;
    this.#stopKeepAlive();
    this.#failPending();
    this.#setState(onClosed(this.state, reason, Date.now()));
    this.#attempt = 0;
    this.#connect();
  }

  // ---- requests ----------------------------------------------------------------------------------

  send(event: ChskEvent, o?: ClientSendOptions): Observable<unknown> {
    assertEvent(event, 'send(event): event');
    if (isReservedId(event[0])) throw new TypeError(`send(event): ids in the chsk/ namespace are reserved (got ${event[0]})`);
    const timeoutMs = o?.timeoutMs;
    if (timeoutMs === undefined) {
      const t = this.#transport;
      if (!this.state.open || t === null || this.#stopped) return throwError(closedError);
      if (!t.send(event, null)) {
        this.#sendFailed();
        return throwError(() => new ChskError('chsk/error', 'the transport could not send'));
      }
      this.#lastComms = this.#scheduler.now();
      return EMPTY;
    }
    if (!(typeof timeoutMs === 'number' && timeoutMs >= 0 && Number.isFinite(timeoutMs))) {
      throw new TypeError(`send(event, { timeoutMs }): timeoutMs must be a finite number >= 0, got ${String(timeoutMs)}`);
    }
    return this.#request(event, timeoutMs);
  }

  #request(event: ChskEvent, timeoutMs: number): Observable<unknown> {
    const t = this.#transport;
    if (!this.state.open || t === null || this.#stopped) return throwError(closedError);
    const cbId = (++this.#cbSeq).toString(36);
    const result = new AsyncSubject<unknown>();
    const timer = this.#scheduler.schedule(() => this.#settle(cbId, 'chsk/timeout'), timeoutMs);
    this.#pending.set(cbId, { result, timer });
    if (t.send(event, cbId)) this.#lastComms = this.#scheduler.now();
    else {
      this.#settle(cbId, 'chsk/error');
      this.#sendFailed();
    }
    return new Observable<unknown>((subscriber) => {
      const sub = result.subscribe(subscriber);
      return () => {
        sub.unsubscribe();
        // The last subscriber left before the outcome: drop the entry; a late reply is ignored.
        const p = this.#pending.get(cbId);
        if (p?.result === result && !result.observed) {
          p.timer.unsubscribe();
          this.#pending.delete(cbId);
        }
      };
    });
  }

  #sendFailed(): void {
    if (this.#transport?.type === 'ws') this.#restart('ws-error');
  }

  #settle(cbId: string, value: unknown): void {
    const p = this.#pending.get(cbId);
    if (p === undefined) {
      this.#logger.debug('sente-rx: ignored a reply with no waiting request (late, or unknown cbId)', { cbId });
      return;
    }
    this.#pending.delete(cbId);
    p.timer.unsubscribe();
    if (isReplyErrorValue(value)) {
      p.result.error(new ChskError(value, value === 'chsk/timeout' ? 'no reply within timeoutMs' : value === 'chsk/closed' ? 'the channel socket closed before the reply' : 'the request failed'));
    } else {
      p.result.next(value);
      p.result.complete();
    }
  }

  #failPending(): void {
    const pending = this.#pending;
    this.#pending = new Map();
    for (const p of pending.values()) {
      p.timer.unsubscribe();
      p.result.error(closedError());
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------------------

  #teardown(reason: CloseReason): void {
    this.#gen++;
    this.#reconnectTimer?.unsubscribe();
    this.#reconnectTimer = null;
    this.#stopKeepAlive();
    this.#transport?.stop(1000, reason);
    this.#transport = null;
    this.#failPending();
    this.#setState(onClosed(this.state, reason, Date.now()));
  }

  disconnect(): void {
    if (this.#closedForGood) return;
    this.#stopped = true;
    this.#teardown('requested-disconnect');
  }

  reconnect(): void {
    if (this.#closedForGood) return;
    this.#teardown('requested-reconnect');
    this.#stopped = false;
    this.#attempt = 0;
    if (this.#requested === 'auto') {
      // Try WebSocket again; a remembered fallback is forgotten until WebSocket fails again.
      this.#useAjax = this.#WebSocket === undefined;
      this.#wsEverOpened = false;
      this.#wsFlaky = 0;
      this.#rememberOnAjaxOpen = false;
      this.#remember(false);
    }
    this.#connect();
  }

  close(): void {
    if (this.#closedForGood) return;
    this.disconnect();
    this.#closedForGood = true;
    this.recv.complete();
    this.state$.complete();
  }

  breakConnection(o?: { silent?: boolean }): void {
    this.#transport?.break(o?.silent === true);
  }
}

/**
 * Creates a channel socket client. `csrfToken` is the server's token for this session (a string,
 * or a function re-read on every connect and send); `null` when the server skips the check.
 */
export function createChannelSocketClient(path: string, csrfToken: CsrfToken, options: ClientOptions = {}): ChannelSocketClient & { readonly pendingRequests: number } {
  const c = new Client(path, csrfToken, options);
  const readonlyState = readonlyBehaviorSubject(c.state$);
  return {
    recv$: c.recv.asObservable(),
    send: c.sendFn,
    state$: readonlyState,
    get state() {
      return c.state;
    },
    clientId: c.clientId,
    get pendingRequests() {
      return c.pendingRequests;
    },
    disconnect: () => c.disconnect(),
    reconnect: () => c.reconnect(),
    close: () => c.close(),
    breakConnection: (o) => c.breakConnection(o),
  };
}
