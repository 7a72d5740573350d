import type { EventContract, Logger, Packed, Packer, ServerEvent, ServerEventMsgOf, SKIP_CSRF_CHECK, Uid, UntypedContract } from '@sente-rx/core';
import type { SchedulerLike } from 'rxjs';
import type { AllowedOrigins } from './security.js';
import type { Broker } from './broker.js';

/** A host-neutral view of an HTTP request, built by the adapter. */
export interface RequestView {
  readonly method: string;
  /** Path and query, as received. */
  readonly url: string;
  readonly query: URLSearchParams;
  /** A header's value (lower-case name); repeated headers joined with ", ". */
  header(name: string): string | undefined;
}

/**
 * What an event-msg keeps of the request that carried it: the WebSocket upgrade request for
 * WebSocket messages, the POST for Ajax. A small snapshot, so an idle connection does not keep
 * the whole request object alive; for WebSockets the handshake's own headers (`upgrade`,
 * `connection`, `sec-websocket-*`) are left out.
 */
export interface RequestInfo {
  readonly transport: 'ws' | 'ajax';
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly remoteAddress: string | undefined;
}

/** A refused request: the HTTP response to answer with. */
export interface Rejection {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SendOptions {
  /** Send now, past any batching (the events already buffered for the uid go with it, in order). @default false */
  readonly flush?: boolean;
}

/** One client (one tab) of a user: the target of a client-targeted `send` and of `request`. */
export interface ClientTarget {
  readonly uid: Uid;
  readonly clientId: string;
}

/**
 * `send(uid, event)` pushes to every client of `uid`; `send({ uid, clientId }, event)` to that one
 * client (all its transports). Typed by the contract's `server` events when there is one.
 */
export type SendFn<C extends EventContract = UntypedContract> = (target: Uid | ClientTarget, event: ServerEvent<C>, opts?: SendOptions) => void;

/** What a server `request` takes besides its target and event. */
export interface RequestOptions {
  /** Fail with `chsk/timeout` when no reply came within this many ms (on the server's scheduler). Required. */
  readonly timeoutMs: number;
}

/**
 * What `recv$` emits (Sente's server event-msg). Without a contract: `id: string`, `data: unknown`,
 * `reply?: (value: unknown) => void` (present only when the client asked; only the first call is
 * sent). With one: a union narrowed by `id`.
 */
export type ServerEventMsg<C extends EventContract = UntypedContract> = ServerEventMsgOf<
  C,
  { readonly uid: Uid; readonly clientId: string; readonly request: RequestInfo; readonly send: SendFn<C> }
>;

export interface ConnectedUids {
  readonly ws: ReadonlySet<Uid>;
  readonly ajax: ReadonlySet<Uid>;
  readonly any: ReadonlySet<Uid>;
}

import type { ReadonlyBehaviorSubject } from '@sente-rx/core';
export type { ReadonlyBehaviorSubject };

export interface ServerOptions<TReq> {
  /** The user id of a request (called once per WebSocket handshake and per Ajax request). Nothing → `NIL_UID`. */
  readonly userId?: (req: TReq, clientId: string) => Uid | null | undefined;
  /**
   * The reference CSRF token for a request, or `SKIP_CSRF_CHECK`. A request whose token (query
   * `csrf-token`, header `X-CSRF-Token` or `X-XSRF-Token`) does not match is refused with 403.
   * Without this option every request fails the check (as Sente's default does without a session
   * token): pass `() => SKIP_CSRF_CHECK` to rely on the origin check alone.
   */
  readonly csrfToken?: (req: TReq) => string | typeof SKIP_CSRF_CHECK | null | undefined;
  /** Arbitrary data for the handshake event's second element. @default () => null */
  readonly handshakeData?: (req: TReq) => unknown;
  /** @default 'same-origin' (stricter than Sente's `:all`) */
  readonly allowedOrigins?: AllowedOrigins;
  /** Refuse with 401 when this returns false. */
  readonly authorized?: (req: TReq) => boolean;
  /**
   * Runs before every built-in check; a non-null result refuses the request with that response.
   * It is never written raw: a header whose name is not a token or whose value is not printable
   * ASCII (CR/LF, `✓`, …) is dropped, as are framing headers (`Content-Length`,
   * `Transfer-Encoding`, `Connection`, `Upgrade`, `Keep-Alive`); the refusal keeps its status and
   * body, and each drop is logged at error level. A `status` that is not an integer in 300..599
   * is answered 500 instead, logged. A throw is answered 500, logged.
   */
  readonly reject?: (req: TReq) => Rejection | null | undefined;
  /** @default jsonPacker */
  readonly packer?: Packer;
  /** Largest WebSocket inactivity before the server pings; checked every `wsKeepAliveMs / 2`. `0` disables. @default 25_000 (25 s) */
  readonly wsKeepAliveMs?: number;
  /** After a server ping, how long to wait for any message before closing. @default 10_000 (10 s) */
  readonly wsPingTimeoutMs?: number;
  /** How long an Ajax poll (or an Ajax request waiting for a reply) is held; must be < 60 000. @default 20_000 (20 s) */
  readonly lpTimeoutMs?: number;
  /**
   * How pushes to a uid are batched (`batching`) and the longest a push waits (`sendBufMs`).
   *
   * - `'adaptive'` (default): a push to a uid that sent nothing within the last `sendBufMs` leaves at
   *   the end of the current event-loop turn (a microtask on the default scheduler; delay 0 on an
   *   injected one), so a synchronous burst of sends is one batch and a lone push is not delayed. While
   *   the uid is busy (a batch went out within the last `sendBufMs`), pushes are coalesced and leave
   *   `sendBufMs` after that batch: at most one batch per uid per `sendBufMs`. A held Ajax poll of
   *   an idle uid is answered the same way, at the end of the turn, but only while every Ajax client
   *   of the uid holds a poll (one between polls would get the events from its queue at once, a poll
   *   per event under load); a busy Ajax uid's pushes wait `sendBufMs.ajax` after the first of them.
   * - `'window'`: Sente's rule: every push waits `sendBufMs` after the first push of its batch.
   *
   * In both modes a batch that reaches `maxBatchEvents` leaves at once, and `send(…, { flush: true })`
   * sends the uid's batch at once.
   * @default 'adaptive'
   */
  readonly batching?: 'adaptive' | 'window';
  /**
   * The coalescing window for pushes, per transport: how long a push may wait for others to share its
   * batch (see `batching`). `0` turns batching off: every push is sent at once, as with `flush`.
   * @default { ws: 30, ajax: 100 }
   */
  readonly sendBufMs?: { readonly ws?: number; readonly ajax?: number };
  /** Size bound of one push batch: the push that brings a uid's batch to this many events sends it at once. @default 1_000 */
  readonly maxBatchEvents?: number;
  /** Grace after a connection closes before its uid counts as gone. @default { ws: 2_500, ajax: 5_000 } */
  readonly reconnectGraceMs?: { readonly ws?: number; readonly ajax?: number };
  /** Largest message accepted (WebSocket frame or Ajax body). @default 1_048_576 (1 MiB) */
  readonly maxMessageBytes?: number;
  /** A WebSocket whose unsent data exceeds this is terminated (no closing handshake: the client does not read). @default 8_388_608 (8 MiB) */
  readonly maxBufferedBytes?: number;
  /** Events kept for one client while it has no open channel (between Ajax polls, or reconnecting within the grace period). @default 1_000 */
  readonly maxPendingEvents?: number;
  /** @default consoleLogger: warnings and errors to the console; pass silentLogger to silence */
  readonly logger?: Logger;
  /**
   * Where `send`, `broadcast`, `request` and presence changes go. @default `inMemoryBroker({ scheduler })`
   * (one process; `connectedUids$` coalesced over 50 ms windows, see `inMemoryBroker`)
   */
  readonly broker?: Broker;
  /** Drives every timer; inject a `TestScheduler` or `VirtualTimeScheduler` in tests. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/**
 * One WebSocket, as the adapter hands it to the core (the Node adapter passes the `ws` socket
 * itself). The core wraps it, like a held Ajax poll, in its one channel abstraction (channel.ts).
 */
export interface ServerChannel {
  /** WebSocket's readyState: 1 (OPEN) while it can send. */
  readonly readyState: number;
  /** Bytes queued but not yet written to the network. */
  readonly bufferedAmount: number;
  send(data: Packed): void;
  close(code: number, reason: string): void;
  /** Drop the connection without a closing handshake (for peers that stopped answering). */
  terminate(): void;
}

/** One held Ajax response. */
export interface AjaxResponder {
  readonly done: boolean;
  respond(status: number, body: Packed, contentType?: string): void;
  /** Called once if the client goes away before `respond`. */
  onAbort(fn: () => void): void;
}

/** What the adapter reports for one WebSocket. */
export interface WsConnection {
  readonly clientId: string;
  readonly uid: string;
  message(data: Packed, isBinary: boolean): void;
  closed(code: number): void;
}

/**
 * A request that passed the rejection pipeline and the client-id check: the only way on to the
 * core's transports, so no adapter can skip the checks.
 */
export interface AdmittedRequest {
  /** The request's valid client id. */
  readonly clientId: string;
  /** After the WebSocket upgrade completed. */
  wsOpen(channel: ServerChannel, info: RequestInfo): WsConnection;
  /** A GET: an Ajax handshake or long-poll. */
  ajaxGet(info: RequestInfo, res: AjaxResponder): void;
  /** A POST, once its body is read (within `maxMessageBytes`). */
  ajaxPost(info: RequestInfo, body: Packed, res: AjaxResponder): void;
}

/** What `ServerCore.admit` decides: refuse with `rejection`, or go on with `request`. */
export type Admission = { readonly ok: false; readonly rejection: Rejection } | { readonly ok: true; readonly request: AdmittedRequest };

/** The host-agnostic core, as an adapter sees it. */
export interface ServerCore<TReq> {
  readonly options: ResolvedOptions<TReq>;
  readonly logger: Logger;
  /** The server's one time source (the `scheduler` option): adapters time their waits on it too. */
  readonly scheduler: SchedulerLike;
  /**
   * Runs the rejection pipeline (`reject` → CSRF → origin → `authorized`) and the client-id check
   * once; an adapter answers a refusal in its host's terms, or goes on through `request`.
   */
  admit(view: RequestView, req: TReq): Admission;
  /** The rejection pipeline plus the client-id check; `null` means go on. (`admit` runs it for you.) */
  check(view: RequestView, req: TReq): Rejection | null;
  /**
   * Runs the checks itself; a refused request's socket is closed with 1008. Prefer `admit` before
   * the upgrade, so a refusal is an HTTP response.
   */
  wsOpen(channel: ServerChannel, view: RequestView, req: TReq, info: RequestInfo): WsConnection;
  /** Runs the checks itself; a refusal is answered through `res`. Same as `admit(…).request.ajaxGet`. */
  ajaxGet(view: RequestView, req: TReq, info: RequestInfo, res: AjaxResponder): void;
  /** Runs the checks itself; a refusal is answered through `res`. Same as `admit(…).request.ajaxPost`. */
  ajaxPost(view: RequestView, req: TReq, info: RequestInfo, body: Packed, res: AjaxResponder): void;
  /** Registers cleanup for `close()`. */
  onClose(fn: () => void | Promise<void>): void;
}

export interface ResolvedOptions<TReq> {
  readonly userId: (req: TReq, clientId: string) => Uid | null | undefined;
  readonly csrfToken: ((req: TReq) => string | typeof SKIP_CSRF_CHECK | null | undefined) | undefined;
  readonly handshakeData: (req: TReq) => unknown;
  readonly allowedOrigins: AllowedOrigins;
  readonly authorized: ((req: TReq) => boolean) | undefined;
  readonly reject: ((req: TReq) => Rejection | null | undefined) | undefined;
  readonly packer: Packer;
  readonly wsKeepAliveMs: number;
  readonly wsPingTimeoutMs: number;
  readonly lpTimeoutMs: number;
  readonly batching: 'adaptive' | 'window';
  readonly sendBufMs: { readonly ws: number; readonly ajax: number };
  readonly maxBatchEvents: number;
  readonly reconnectGraceMs: { readonly ws: number; readonly ajax: number };
  readonly maxMessageBytes: number;
  readonly maxBufferedBytes: number;
  readonly maxPendingEvents: number;
}

/** An adapter binds the core to a host (Node + ws, …) and contributes its handlers to the result. */
export interface ServerAdapter<TReq, TApi extends object> {
  bind(core: ServerCore<TReq>): TApi;
}
