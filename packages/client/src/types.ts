import type {
  ChskEvent,
  ChskState,
  ClientEvent,
  ClientEventMsgOf,
  EventContract,
  Logger,
  Packer,
  ReplyOf,
  RequestedType,
  ServerMessage,
  StatePair,
  TransportType,
  UntypedContract,
} from '@sente-rx/core';
import type { Observable, SchedulerLike } from 'rxjs';

// Handler slots are checked bivariantly, so the DOM's WebSocket and the `ws` package's both fit.
type Handler<TEv> = { bivarianceHack(ev: TEv): void }['bivarianceHack'];

/** The WebSocket constructor the client uses: the browser's, or `ws` on Node 20. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onerror: Handler<unknown> | null;
  onclose: Handler<{ code: number; reason: string; wasClean: boolean }> | null;
  send(data: string | Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet sent (browsers and `ws` have it); bounded by `maxBufferedBytes`. */
  readonly bufferedAmount?: number;
  /** `ws` only: drop the connection without a closing handshake. Used when a close frame could not get through. */
  terminate?(): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export type CsrfToken = string | null | undefined | (() => string | null | undefined);

export interface ClientOptions {
  /** @default 'auto' */
  readonly type?: RequestedType;
  /** @default the page's protocol, else 'http:' */
  readonly protocol?: 'http:' | 'https:' | 'http' | 'https';
  /** @default the page's host */
  readonly host?: string;
  readonly port?: number;
  /** Extra query parameters for the WebSocket URL and the Ajax polls. */
  readonly params?: Readonly<Record<string, string | number | boolean>>;
  /** Must match the server's. @default jsonPacker */
  readonly packer?: Packer;
  /** Required on Node 20 (pass `WebSocket` from the `ws` package). @default globalThis.WebSocket */
  readonly WebSocket?: WebSocketConstructor;
  /** @default globalThis.fetch */
  readonly fetch?: FetchLike;
  /**
   * Delay before reconnect attempt n (1-based). The result is checked: above 2^31 − 1 ms it is
   * clamped to that (a timer cannot wait longer); `Infinity` stops reconnecting until
   * `reconnect()`; NaN, a negative number or a throw is logged as an error and the default is
   * used for that attempt. Attempts count up until a connection proves stable (`stableMs`).
   * @default capped full jitter: 0 for the first retry, then up to 2 s, 4 s, … 30 s
   */
  readonly backoffMs?: (attempt: number) => number;
  /**
   * A connection that stays open (handshaken) this long is stable: the backoff starts again at
   * attempt 1 after it closes. A shorter-lived one (a server that handshakes and then closes or
   * fails every poll) keeps counting up, so such a server gets at most about 6 attempts in 8 s
   * from each client instead of a reconnect storm. @default 5_000 (5 s)
   */
  readonly stableMs?: number;
  /**
   * The bound on what the client buffers for the server: a WebSocket's `bufferedAmount`, or the
   * bodies of Ajax POSTs in flight (bytes; characters for a text packer). Past it the connection
   * is closed with reason 'send-buffer-full' and reconnects with backoff (the server bounds its
   * own buffer the same way). @default 8_388_608 (8 MiB)
   */
  readonly maxBufferedBytes?: number;
  /** Largest WebSocket silence before the client pings; checked every `wsKeepAliveMs / 2`. `0` disables. @default 20_000 (20 s) */
  readonly wsKeepAliveMs?: number;
  /** How long to wait for the pong before reconnecting with reason 'ws-ping-timeout'. @default 5_000 (5 s) */
  readonly wsPingTimeoutMs?: number;
  /** Deliver server pushes as `['chsk/recv', event]`. @default false */
  readonly wrapRecvEvs?: boolean;
  /** Extra headers for Ajax requests (browsers cannot set WebSocket headers). */
  readonly headers?: Readonly<Record<string, string>>;
  /** @default a random UUID */
  readonly clientId?: string;
  /** Client-side timeout of an Ajax request (a poll or a POST); must exceed the server's lpTimeoutMs. @default 60_000 (60 s) */
  readonly ajaxTimeoutMs?: number;
  /**
   * A WebSocket that has not opened after this long is given up (an upgrade that a proxy
   * swallows never fails by itself); `auto` then falls back to Ajax. @default 10_000 (10 s)
   */
  readonly wsConnectTimeoutMs?: number;
  /**
   * `auto` only: a WebSocket that opens and then dies within this window counts as broken by the
   * network; twice in a row and the client falls back to Ajax. @default 5_000 (5 s)
   */
  readonly wsFlakyWindowMs?: number;
  /**
   * A WebSocket that never opened and did not say why is followed by one empty Ajax POST, which the
   * server answers 401 or 403 exactly when it refused the upgrade for that reason; the client then
   * stops (lastClose 'unauthorized') instead of retrying. Browsers never expose an upgrade's HTTP
   * status; Node's `ws` does (no probe needed). @default true with the platform's WebSocket, false
   * with an injected `WebSocket`
   */
  readonly wsRefusalProbe?: boolean;
  /** `auto` only: where the Ajax fallback is remembered for the page. @default globalThis.sessionStorage when present */
  readonly storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  /** @default consoleLogger: warnings and errors to the console; pass silentLogger to silence */
  readonly logger?: Logger;
  /**
   * Drives every timer and clock read (timeouts, backoff, keep-alive, the state map's `udt`s);
   * inject a TestScheduler for virtual time. @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
  /**
   * Advanced: builds the transport for each connection attempt instead of the built-in WebSocket
   * and Ajax ones (an in-memory pair for tests, another channel). With it, `WebSocket`, `fetch`,
   * `host` and the URL options are not needed.
   */
  readonly transport?: TransportFactory;
  /**
   * The app's contract (`defineEvents` from `@sente-rx/core`): types `send`, `recv$` and replies,
   * and makes the client validate what the server sends before anything sees it:
   * - a push whose id the contract does not list, or whose data fails its schema, is logged
   *   (warn) and dropped;
   * - a server request that fails is answered `chsk/error` with the issues, and not delivered;
   * - a reply to the client's own request that fails makes that `send` error with a `ChskError`
   *   `'chsk/error'` carrying the issues.
   * `recv$` and replies carry the schemas' output. Without it, nothing is validated (`unknown`).
   *
   * It must be the object `defineEvents` returned, which carries the validation (so an app
   * without a contract does not bundle it): a hand-built `{ client, server }` or a copy
   * (`{ ...events }`, `structuredClone`) throws a `TypeError` at creation, with or without
   * `trustServer`.
   */
  readonly events?: EventContract;
  /**
   * With `events`: trust the server and skip the validation of pushes, requests and replies (the
   * types stay; the values are the server's as sent). @default false
   */
  readonly trustServer?: boolean;
  /**
   * How many events `recv$` keeps for its first subscriber when they arrive before it subscribes
   * (`chsk/state`, `chsk/handshake`, early pushes); past that the oldest are dropped (a sliding
   * buffer, as Sente's client `(sliding-buffer 2048)`), with one warning. Later subscribers get
   * live events only. @default 2_048
   */
  readonly recvBufferSize?: number;
}

/** `send` of a client typed by contract `C`: the event is checked against `C.client`, the reply typed by its schema. */
export type ClientSendFn<C extends EventContract = UntypedContract> = <E extends ClientEvent<C>>(
  event: E,
  opts?: ClientSendOptions,
) => Observable<ReplyOf<C, 'client', E[0]>>;

/**
 * What `recv$` emits (Sente's client event-msg): `{ event, id, data, send }`, plus `reply` exactly
 * when the server asked for one (a server→client request; only the first call is sent). With a
 * contract, a union narrowed by `id`.
 */
export type ClientEventMsg<C extends EventContract = UntypedContract> = ClientEventMsgOf<C, { readonly send: ClientSendFn<C> }>;

export interface ClientSendOptions {
  /** Ask for a reply and wait this long for it. Without it, no reply is requested. */
  readonly timeoutMs?: number;
}

import type { ReadonlyBehaviorSubject } from '@sente-rx/core';
export type { ReadonlyBehaviorSubject };

export interface ChannelSocketClient<C extends EventContract = UntypedContract> {
  /**
   * Hot: `chsk/handshake`, `chsk/state`, `chsk/ws-ping`, the server's pushes and requests, in
   * order. What arrives before the first subscriber is kept for it (see `recvBufferSize`).
   */
  readonly recv$: Observable<ClientEventMsg<C>>;
  /**
   * Sends at once (eager, like Sente's `chsk-send!`). With `timeoutMs` the Observable emits the
   * reply and completes, or errors with a `ChskError` (`chsk/timeout`, `chsk/closed`,
   * `chsk/error`); without it, it completes once the event is handed to the transport. A request
   * the server's contract refuses errors `chsk/error` with the server's `issues` over WebSocket
   * (bare over Ajax, whose wire cannot carry them).
   * To retry, defer it: `defer(() => chsk.send(ev, opts)).pipe(retry(2))` sends again on each
   * resubscription (re-subscribing the returned Observable itself does not resend).
   */
  readonly send: ClientSendFn<C>;
  readonly state$: ReadonlyBehaviorSubject<StatePair>;
  /** The current state map (`state$.value[1]`). */
  readonly state: ChskState;
  readonly clientId: string;
  /** Close and stop reconnecting (reason 'requested-disconnect'). */
  disconnect(): void;
  /** Close and connect again at once, resetting the backoff; `auto` tries WebSocket again. */
  reconnect(): void;
  /** Disconnect for good and complete `recv$` and `state$`. */
  close(): void;
  /**
   * Test aid (Sente's `chsk-break-connection!`): drop the connection as a network failure would,
   * through the transport's `simulateNetworkFailure()` hook. `silent` (WebSocket): the path goes
   * quiet with no close, so only the keep-alive notices.
   */
  breakConnection(opts?: { silent?: boolean }): void;
}

/**
 * What a transport reports, on one stream, so nothing above it asks which transport it is.
 * - `open`: the server answered on this connection (the socket opened; an Ajax request succeeded).
 * - `message`: a server message (handshake, push batch, ping, reply).
 * - `reply`: the answer to a request the transport correlated itself (an Ajax POST), or its failure
 *   value (`chsk/timeout`, `chsk/error`).
 * - `error`: an error that does not end the connection by itself (a WebSocket `error` event).
 * - `closed`: the connection is gone; the last event. `code` is a WebSocket close code; the Ajax
 *   transport maps its outcomes onto codes (see `AjaxCloseCode`). `clean` is true only after a
 *   closing handshake, which long-polling never has. `status` carries an HTTP refusal (401 and 403
 *   stop the client until `reconnect()`); `bufferFull` a send buffer past `maxBufferedBytes`.
 */
export type TransportEvent =
  | { readonly kind: 'open' }
  | { readonly kind: 'message'; readonly message: ServerMessage }
  | { readonly kind: 'reply'; readonly cbId: string; readonly value: unknown }
  | { readonly kind: 'error'; readonly message?: string }
  | {
      readonly kind: 'closed';
      readonly code: number;
      readonly reason: string;
      readonly clean: boolean;
      /** The HTTP status, when an HTTP answer refused the connection (an Ajax poll; a WebSocket upgrade, where visible). */
      readonly status?: number;
      /** Closed because more than `maxBufferedBytes` waited to be sent. */
      readonly bufferFull?: true;
    };

/** One connection attempt. Advanced: implement it to run the client over another channel. */
export interface Transport {
  /** The state map's `type` once this transport handshakes. */
  readonly type: TransportType;
  /** Whether the client must ping to notice a dead path (WebSocket: yes; a long-poll proves itself). */
  readonly keepAlive: boolean;
  /** Hot; subscribe before `connect()`. */
  readonly events: Observable<TransportEvent>;
  connect(): void;
  /**
   * Packs the envelope and hands it to the network. Throws when the event cannot be packed;
   * returns false when the connection cannot carry it, and the client then reconnects.
   */
  send(event: ChskEvent, cbId: string | null): boolean;
  /** Stops for good without a `closed` event. */
  stop(code?: number, reason?: string): void;
  /**
   * Test aid: drop the connection the way a network failure would: `closed` with
   * `CloseCode.CLIENT_ABNORMAL`, or, when `silent`, a path that goes quiet with no event at all.
   */
  simulateNetworkFailure(silent: boolean): void;
}

/** What the client hands a transport factory. */
export interface TransportContext {
  /** The kind to connect: `auto` asks for 'ws' first and 'ajax' after it falls back. */
  readonly type: TransportType;
  readonly clientId: string;
  readonly packer: Packer;
  readonly logger: Logger;
  readonly scheduler: SchedulerLike;
  /** Whether the channel is open (handshake done). */
  readonly isOpen: () => boolean;
  /** The CSRF token to present now (re-read on every call), if any. */
  readonly csrfToken: () => string | undefined;
  /** The bound on bytes waiting to be sent (`ClientOptions.maxBufferedBytes`). */
  readonly maxBufferedBytes: number;
  /**
   * The `pos` query value to present now (re-read on every call): put it on the WebSocket URL and
   * every Ajax GET (PROTOCOL.md §11). A transport that leaves it out just gets no recovery.
   */
  readonly position: () => string;
  /**
   * Takes a reply to the client's request straight away, `reply(cbId, value)`: what a `reply`
   * event does, without building one and passing it down the event stream (the WebSocket
   * transport hands every reply here). It ignores what arrives once this connection is gone. A
   * transport may leave it and emit `reply` events instead.
   */
  readonly reply?: (cbId: string, value: unknown) => void;
  /**
   * Takes a server message straight away, `receive(message)`: what a `message` event does, without
   * building one and passing it down the event stream (the WebSocket transport hands every push
   * batch here). It ignores what arrives once this connection is gone. A transport may leave it and
   * emit `message` events instead.
   */
  readonly receive?: (message: ServerMessage) => void;
}

/** Builds one transport per connection attempt. */
export type TransportFactory = (ctx: TransportContext) => Transport;

/**
 * The options of `@sente-rx/client/ws`: those of `@sente-rx/client` for a WebSocket-only client.
 * `type` can only be 'ws' (the default); the Ajax and `auto` options (`ajaxTimeoutMs`,
 * `wsFlakyWindowMs`, `storage`) do nothing there. Another transport can still come in through
 * `transport`.
 */
export interface WsClientOptions extends Omit<ClientOptions, 'type' | 'scheduler'> {
  /** @default 'ws' (the only value) */
  readonly type?: 'ws';
  /**
   * Drives every timer and clock read; inject a TestScheduler for virtual time.
   * @default `Date.now()` and `setTimeout` (what asyncScheduler does, without its classes in the bundle)
   */
  readonly scheduler?: SchedulerLike;
}
