/**
 * createChannelSocketServer: the host-agnostic core of the server (Sente's
 * `make-channel-socket-server!`). This file only composes the parts: options.ts (defaults and
 * validation), pipeline.ts (the rejection pipeline), registry.ts (connections, grace, presence),
 * outbox.ts (send buffers, batching, pending queues), ws-session.ts (WebSocket sessions and
 * keep-alive) and ajax-session.ts (polls and POST replies). Adapters (./node) turn a host's
 * requests and sockets into calls on `ServerCore`.
 */
import {
  ALL_USERS_WITHOUT_UID,
  assertEvent,
  type ChskEvent,
  CloseCode,
  ContentType,
  isValidClientId,
  type Logger,
  NIL_UID,
  type Packed,
  type Packer,
  ProtocolCloseReason,
  Query,
  readAjaxPost,
  readonlyBehaviorSubject,
  reservedSendAllowed,
  consoleLogger,
  ChskError,
  DEFAULT_FIRST_SUBSCRIBER_BUFFER,
  describeIssues,
  type EventContract,
  FirstSubscriberBuffer,
  isReservedId,
  randomUuid,
  ReservedId,
  type EventId,
  type ReplyOf,
  type ServerEvent,
  type Uid,
  type UntypedContract,
  validateIncoming,
  validateReply,
  validationError,
} from '@sente-rx/core';
import { asyncScheduler, BehaviorSubject, type Observable, type SchedulerLike, type Subscription, throwError } from 'rxjs';
import { AjaxSessions } from './ajax-session.js';
import { type Broker, type BrokerRequest, EMPTY_UIDS, inMemoryBroker, type SendTarget } from './broker.js';
import type { CoreContext, Origin, RefuseFn } from './channel.js';
import { resolveOptions } from './options.js';
import { guardedRecv } from './guarded-recv.js';
import { isolatedBroker } from './isolated-broker.js';
import { Outbox } from './outbox.js';
import { resolveRecoveryOption } from './recovery.js';
import { RecoveryStarts } from './recovery-start.js';
import { runPipeline } from './pipeline.js';
import { Registry } from './registry.js';
import { type ReplyCheck, Requests } from './requests.js';
import type {
  Admission,
  AdmittedRequest,
  AjaxResponder,
  ClientTarget,
  ConnectedUids,
  ReadonlyBehaviorSubject,
  Rejection,
  RequestInfo,
  RequestOptions,
  RequestView,
  ResolvedOptions,
  SendFn,
  SendOptions,
  ServerAdapter,
  ServerChannel,
  ServerCore,
  ServerEventMsg,
  ServerOptions,
  WsConnection,
} from './types.js';
import { WsSessions } from './ws-session.js';

/** The server→client events that declare a reply (the ones `request` takes); any event without a contract. */
export type ServerRequestEvent<C extends EventContract = UntypedContract> = C extends { readonly '~untyped': true }
  ? ServerEvent<C>
  : Extract<ServerEvent<C>, readonly [{ [Id in keyof C['server'] & string]: C['server'][Id] extends { readonly reply: object } ? Id : never }[keyof C['server'] & string], ...unknown[]]>;

/** What `createChannelSocketServer` returns, before the adapter adds its handlers. */
export interface ChannelSocketServer<C extends EventContract = UntypedContract> {
  /**
   * Hot. Never errors because of a client's input; completes on `close()`. Events that arrive
   * before the first subscriber are kept for it (up to 1000, the oldest dropped first, logged).
   * With a contract, only events that passed validation.
   *
   * App code is isolated: a subscriber whose `next` (or `error`/`complete`) throws is logged at
   * error level with the event's `id`, `clientId` and `uid`, and keeps its subscription; an
   * operator chain on `recv$` that throws with no error handler ends that subscription, logged.
   * Either way nothing reaches the process (RxJS would rethrow it from a `setTimeout`: an
   * `uncaughtException`), and `recv$` and every other subscriber go on. How: see guarded-recv.ts.
   * Prefer `startServerChskRouter`, which isolates each handler call and fails a pending reply
   * with `chsk/error`.
   */
  readonly recv$: Observable<ServerEventMsg<C>>;
  /**
   * Push `event` to every client of `uid`, or with `{ uid, clientId }` to that one client, on every
   * transport (and, with a cluster broker, every node). Eager, like Sente's `chsk-send!`.
   */
  readonly send: SendFn<C>;
  /** Push `event` to every connected client, named or anonymous, on every transport and node. */
  broadcast(event: ServerEvent<C>, opts?: SendOptions): void;
  /**
   * Ask one client and get its reply: emits once and completes, or errors with a `ChskError`
   * `'chsk/timeout'` (no reply within `timeoutMs`), `'chsk/closed'` (the client left for good, or
   * the server closed) or `'chsk/error'` (the client refused; or, with a contract, its reply failed
   * validation: `issues` says why). Eager; unsubscribing drops the pending entry, and a late reply
   * is ignored. A client without request support never replies: `'chsk/timeout'`.
   */
  request<E extends ServerRequestEvent<C>>(target: ClientTarget, event: E, opts: RequestOptions): Observable<ReplyOf<C, 'server', E[0]>>;
  /**
   * Connected uids (cluster-wide with a cluster broker). Emissions are coalesced by the broker:
   * with the default in-memory one, `value` lags a connect or disconnect by at most one presence
   * window (50 ms), and `chsk/uidport-*` events come right after the emission that includes them.
   * Each emission's sets are immutable snapshots; the in-memory broker's cost O(1) each (they share
   * with the live sets: `has` and `size` are O(1), the first iteration of one copies it).
   */
  readonly connectedUids$: ReadonlyBehaviorSubject<ConnectedUids>;
  /** Closes every connection (WebSocket 1001; held polls answered) and releases all timers. */
  close(): Promise<void>;
}

/** The entry points of one admitted request. */
class Admitted<TReq> implements AdmittedRequest {
  constructor(
    private readonly srv: Server<TReq>,
    readonly clientId: string,
    private readonly view: RequestView,
    private readonly req: TReq,
  ) {}

  wsOpen(channel: ServerChannel, info: RequestInfo): WsConnection {
    return this.srv.ws.open(channel, this.clientId, this.req, info, this.view);
  }

  ajaxGet(info: RequestInfo, res: AjaxResponder): void {
    this.srv.ajax.get(this.view, this.clientId, this.req, info, res);
  }

  ajaxPost(info: RequestInfo, body: Packed, res: AjaxResponder): void {
    // Either shape (PROTOCOL.md §4): the raw envelope, or Sente's form with client-id and ppstr.
    const post = readAjaxPost(body, this.view.header('content-type'), this.view.query);
    if (!post.ok) {
      this.srv.logger.warn('sente-rx: refused an Ajax POST form', { reason: post.reason });
      return respondRejection(res, { status: 400, body: `Bad request: ${post.reason}` });
    }
    const { packed, clientId } = post.value;
    if (!isValidClientId(clientId)) {
      this.srv.logger.warn('sente-rx: Ajax POST without a valid client-id', { url: this.view.url.split('?')[0] });
      return respondRejection(res, { status: 400, body: 'Missing or invalid client-id parameter' });
    }
    this.srv.ajax.post(clientId, this.req, info, packed, res);
  }
}

const respondRejection = (res: AjaxResponder, r: Rejection): void => res.respond(r.status, r.body ?? '', ContentType.PLAIN);

/** The `request` of a uidport event whose uid this node never held (a cluster edge): nothing is known of it. */
const UNKNOWN_REQUEST: RequestInfo = Object.freeze({ transport: 'ws', method: '', url: '', headers: Object.freeze({}), remoteAddress: undefined });

const isClientTarget = (t: unknown): t is ClientTarget =>
  typeof t === 'object' && t !== null && typeof (t as ClientTarget).uid === 'string' && isValidClientId((t as ClientTarget).clientId);

class Server<TReq> implements ServerCore<TReq>, CoreContext<TReq> {
  readonly options: ResolvedOptions<TReq>;
  readonly packer: Packer;
  readonly logger: Logger;
  readonly scheduler: SchedulerLike;
  readonly recv: FirstSubscriberBuffer<ServerEventMsg>;
  readonly uids$ = new BehaviorSubject<ConnectedUids>(EMPTY_UIDS);
  readonly send: SendFn;
  readonly nodeId = randomUuid().replaceAll('-', '').slice(0, 16);
  readonly events: EventContract | undefined;
  closing = false;

  readonly ws: WsSessions<TReq>;
  readonly ajax: AjaxSessions<TReq>;
  readonly requests: Requests;
  private readonly registry: Registry;
  private readonly outbox: Outbox;
  private readonly broker: Broker;
  private readonly ownsBroker: boolean;
  private readonly cleanups: (() => void | Promise<void>)[] = [];
  private readonly subs: Subscription[] = [];
  private closed: Promise<void> | undefined;

  constructor(options: ServerOptions<TReq> & { readonly events?: EventContract | undefined }) {
    this.options = resolveOptions(options);
    this.packer = this.options.packer;
    this.logger = options.logger ?? consoleLogger;
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.events = options.events;
    this.recv = new FirstSubscriberBuffer<ServerEventMsg>(DEFAULT_FIRST_SUBSCRIBER_BUFFER, {
      onDrop: (dropped) => {
        if (dropped === 1 || dropped % 1_000 === 0) {
          this.logger.warn('sente-rx: recv$ has no subscriber yet; dropped the oldest kept events', { dropped, kept: DEFAULT_FIRST_SUBSCRIBER_BUFFER });
        }
      },
    });
    this.ownsBroker = options.broker === undefined;
    const recoveryBounds = resolveRecoveryOption(options.recovery);
    this.broker = isolatedBroker(options.broker ?? inMemoryBroker({ scheduler: this.scheduler, recovery: recoveryBounds ?? false }), this.logger);
    if (this.options.csrfToken === undefined) {
      this.logger.warn('sente-rx: no csrfToken option, so every request fails the CSRF check; pass csrfToken: () => SKIP_CSRF_CHECK to rely on origin checks alone');
    }
    this.send = (target, event, opts) => this.publishTo(this.sendTarget(target), event, opts, 'send(target, event)');
    this.registry = new Registry(this, this.broker);
    this.outbox = new Outbox(this, this.registry);
    const recovery = new RecoveryStarts(this, this.broker, recoveryBounds !== undefined);
    this.ws = new WsSessions(this, this.registry, this.outbox, recovery);
    this.ajax = new AjaxSessions(this, this.registry, this.outbox, recovery);
    const events = this.events;
    const checkReply: ReplyCheck = (id, value) => {
      if (events === undefined) return undefined;
      const r = validateReply(events, 'server', id as EventId, value);
      return r.ok ? r : { ok: false, error: validationError(`the reply to ${id}`, r.issues) };
    };
    this.requests = new Requests(this.nodeId, this.broker, this.scheduler, this.logger, checkReply);
    this.broker.connect({
      nodeId: this.nodeId,
      deliver: (msg) => this.outbox.deliver(msg),
      request: (req) => this.dispatchRequest(req),
      reply: (rep) => this.requests.onReply(rep),
      uidport: (uid, open) => this.uidport(uid, open),
    });
    this.subs.push(
      this.broker.connectedUids$.subscribe({
        next: (u) => this.uids$.next(u),
        // Without a handler RxJS would rethrow it from a setTimeout and the process would exit.
        error: (err: unknown) => this.logger.error('sente-rx: the broker\'s connectedUids$ errored; connectedUids$ stops changing', { err }),
      }),
    );
  }

  emit(from: Origin, event: ChskEvent, request: RequestInfo, reply?: (v: unknown) => void, refuse?: RefuseFn): void {
    let ev = event;
    if (this.events !== undefined && !isReservedId(event[0])) {
      const checked = validateIncoming(this.events, 'client', event, { replyAsked: reply !== undefined });
      if (!checked.ok) {
        this.logger.warn('sente-rx: dropped a client event the contract refuses', {
          uid: from.uid,
          clientId: from.clientId,
          id: event[0].slice(0, 100),
          issues: describeIssues(checked.issues),
          replied: reply !== undefined,
        });
        if (refuse !== undefined) refuse(checked.issues);
        else reply?.(ReservedId.ERROR);
        return;
      }
      ev = checked.value;
    }
    // Two literals rather than a spread: this runs once per message.
    const msg: ServerEventMsg =
      reply === undefined
        ? { event: ev, id: ev[0], data: ev[1], uid: from.uid, clientId: from.clientId, request, send: this.send }
        : { event: ev, id: ev[0], data: ev[1], uid: from.uid, clientId: from.clientId, request, send: this.send, reply };
    this.recv.next(msg);
  }

  clientReply(from: Origin, payload: unknown): void {
    this.requests.clientReply(from.uid, from.clientId, payload);
  }

  clientGone(uid: Uid, clientId: string): void {
    this.requests.clientGone(uid, clientId);
  }

  private uidport(uid: Uid, open: boolean): void {
    if (this.closing) return;
    const origin = this.registry.originOf(uid);
    this.emit(origin ?? { uid, clientId: '' }, [open ? ReservedId.UIDPORT_OPEN : ReservedId.UIDPORT_CLOSE, uid], origin?.request ?? UNKNOWN_REQUEST);
    if (!open) this.registry.forgetLeft(uid);
  }

  /** A request from the broker for a client this node may hold: pushed to it inside its batch, in order with pushes. */
  private dispatchRequest(req: BrokerRequest): void {
    if (this.closing || !this.registry.holds(req.uid, req.clientId)) return;
    const entry = this.requests.dispatch(req);
    this.outbox.deliver({ target: { kind: 'client', uid: req.uid, clientId: req.clientId }, events: [entry], flush: false });
  }

  private sendTarget(target: Uid | ClientTarget): SendTarget {
    if (target === null || target === undefined) {
      throw new TypeError('send(target, …): a uid or { uid, clientId } is required; send to ALL_USERS_WITHOUT_UID to reach anonymous clients');
    }
    const norm = (uid: Uid): Uid => (uid === ALL_USERS_WITHOUT_UID ? NIL_UID : String(uid));
    if (typeof target !== 'object') return { kind: 'uid', uid: norm(target) };
    if (!isClientTarget(target)) throw new TypeError('send(target, …): a client target is { uid: string, clientId: string (1-128 chars) }');
    return { kind: 'client', uid: norm(target.uid), clientId: target.clientId };
  }

  private publishTo(target: SendTarget, event: ChskEvent, opts: SendOptions | undefined, what: string): void {
    assertEvent(event, `${what}: event`);
    const id = event[0];
    if (!reservedSendAllowed('server', id) || (id === ReservedId.CLOSE && target.kind !== 'uid')) {
      throw new TypeError(`${what}: ids in the chsk/ namespace are reserved (got ${id}${id === ReservedId.CLOSE ? '; chsk/close takes a uid target' : ''})`);
    }
    this.broker.publish(target, [event], opts?.flush === true);
  }

  broadcast(event: ChskEvent, opts?: SendOptions): void {
    this.publishTo({ kind: 'all' }, event, opts, 'broadcast(event)');
  }

  request(target: ClientTarget, event: ChskEvent, opts: RequestOptions): Observable<unknown> {
    if (!isClientTarget(target)) throw new TypeError('request(target, …): target is { uid: string, clientId: string (1-128 chars) }');
    assertEvent(event, 'request(target, event): event');
    if (isReservedId(event[0])) throw new TypeError(`request(target, event): ids in the chsk/ namespace are reserved (got ${event[0]})`);
    const timeoutMs = opts?.timeoutMs;
    if (typeof timeoutMs !== 'number' || !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new TypeError(`request(target, event, { timeoutMs }): timeoutMs must be a finite number > 0, got ${String(timeoutMs)}`);
    }
    if (this.closing) return throwError(() => new ChskError('chsk/closed', 'the server is closed'));
    const uid = target.uid === ALL_USERS_WITHOUT_UID ? NIL_UID : target.uid;
    return this.requests.ask(uid, target.clientId, event, timeoutMs);
  }

  // ---- the adapter's entry points: each runs the pipeline ------------------------------------

  check(view: RequestView, req: TReq): Rejection | null {
    return runPipeline(this.options, this.logger, view, req);
  }

  admit(view: RequestView, req: TReq): Admission {
    const rejection = this.check(view, req);
    if (rejection !== null) return { ok: false, rejection };
    return { ok: true, request: new Admitted(this, view.query.get(Query.CLIENT_ID) ?? '', view, req) };
  }

  wsOpen(channel: ServerChannel, view: RequestView, req: TReq, info: RequestInfo): WsConnection {
    const a = this.admit(view, req);
    if (a.ok) return a.request.wsOpen(channel, info);
    channel.close(CloseCode.POLICY_VIOLATION, `chsk/rejected: ${a.rejection.status}`);
    return { clientId: view.query.get(Query.CLIENT_ID) ?? '', uid: '', message: () => undefined, closed: () => undefined };
  }

  ajaxGet(view: RequestView, req: TReq, info: RequestInfo, res: AjaxResponder): void {
    const a = this.admit(view, req);
    if (a.ok) a.request.ajaxGet(info, res);
    else respondRejection(res, a.rejection);
  }

  ajaxPost(view: RequestView, req: TReq, info: RequestInfo, body: Packed, res: AjaxResponder): void {
    const a = this.admit(view, req);
    if (a.ok) a.request.ajaxPost(info, body, res);
    else respondRejection(res, a.rejection);
  }

  onClose(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }

  // ---- close -----------------------------------------------------------------------------------

  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    this.requests.close();
    for (const s of this.subs) s.unsubscribe();
    this.ws.close();
    this.outbox.close();
    this.registry.closeAll(CloseCode.GOING_AWAY, ProtocolCloseReason.SERVER_CLOSING);
    this.ajax.close();
    for (const fn of this.cleanups) await fn();
    if (this.ownsBroker) await this.broker.close();
    this.recv.complete();
    this.uids$.complete();
  }
}

/**
 * Creates a channel socket server (Sente's `make-channel-socket-server!`). The adapter binds it to
 * a host and adds that host's handlers to the result, e.g. `nodeAdapter()` adds
 * `ajaxGetOrWsHandshake`, `ajaxPost` and `attach`. With `events` (a `defineEvents` contract),
 * `send`, `broadcast`, `request`, `recv$` and `reply` are typed by it, and every incoming client
 * event and every client reply is validated before anything sees it.
 */
export function createChannelSocketServer<TReq, TApi extends object, C extends EventContract = UntypedContract>(
  adapter: ServerAdapter<TReq, TApi>,
  options: ServerOptions<TReq> & { readonly events?: C } = {},
): ChannelSocketServer<C> & TApi {
  const srv = new Server<TReq>(options);
  const api = adapter.bind(srv);
  const base: ChannelSocketServer = {
    recv$: guardedRecv(srv.recv.asObservable(), srv.logger),
    send: srv.send,
    broadcast: (event, opts) => srv.broadcast(event, opts),
    request: (target, event, opts) => srv.request(target, event, opts),
    connectedUids$: readonlyBehaviorSubject(srv.uids$),
    close: () => srv.close(),
  };
  // The contract only narrows the types; at run time the untyped API is the typed one.
  return Object.assign(api, base as unknown as ChannelSocketServer<C>);
}
