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
  type Uid,
} from '@sente-rx/core';
import { asyncScheduler, BehaviorSubject, type Observable, type SchedulerLike, Subject, type Subscription } from 'rxjs';
import { AjaxSessions } from './ajax-session.js';
import { type Broker, EMPTY_UIDS, inMemoryBroker } from './broker.js';
import type { CoreContext, Origin } from './channel.js';
import { resolveOptions } from './options.js';
import { Outbox } from './outbox.js';
import { runPipeline } from './pipeline.js';
import { Registry } from './registry.js';
import type {
  Admission,
  AdmittedRequest,
  AjaxResponder,
  ConnectedUids,
  ReadonlyBehaviorSubject,
  Rejection,
  RequestInfo,
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

/** What `createChannelSocketServer` returns, before the adapter adds its handlers. */
export interface ChannelSocketServer {
  /** Hot. Never errors because of a client's input; completes on `close()`. */
  readonly recv$: Observable<ServerEventMsg>;
  /** Push `event` to every client of `uid`, on every transport (and, with a cluster broker, every node). */
  readonly send: SendFn;
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
    return this.srv.ws.open(channel, this.clientId, this.req, info);
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

class Server<TReq> implements ServerCore<TReq>, CoreContext<TReq> {
  readonly options: ResolvedOptions<TReq>;
  readonly packer: Packer;
  readonly logger: Logger;
  readonly scheduler: SchedulerLike;
  readonly recv = new Subject<ServerEventMsg>();
  readonly uids$ = new BehaviorSubject<ConnectedUids>(EMPTY_UIDS);
  readonly send: SendFn;
  closing = false;

  readonly ws: WsSessions<TReq>;
  readonly ajax: AjaxSessions<TReq>;
  private readonly registry: Registry;
  private readonly outbox: Outbox;
  private readonly broker: Broker;
  private readonly ownsBroker: boolean;
  private readonly cleanups: (() => void | Promise<void>)[] = [];
  private readonly subs: Subscription[] = [];
  private closed: Promise<void> | undefined;

  constructor(options: ServerOptions<TReq>) {
    this.options = resolveOptions(options);
    this.packer = this.options.packer;
    this.logger = options.logger ?? consoleLogger;
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.ownsBroker = options.broker === undefined;
    this.broker = options.broker ?? inMemoryBroker();
    if (this.options.csrfToken === undefined) {
      this.logger.warn('sente-rx: no csrfToken option, so every request fails the CSRF check; pass csrfToken: () => SKIP_CSRF_CHECK to rely on origin checks alone');
    }
    this.send = (uid, event, opts) => this.publish(uid, event, opts);
    this.registry = new Registry(this, this.broker);
    this.outbox = new Outbox(this, this.registry);
    this.ws = new WsSessions(this, this.registry, this.outbox);
    this.ajax = new AjaxSessions(this, this.registry, this.outbox);
    this.broker.connect({ deliver: (msg) => this.outbox.deliver(msg) });
    this.subs.push(this.broker.connectedUids$.subscribe((u) => this.uids$.next(u)));
  }

  emit(from: Origin, event: ChskEvent, request: RequestInfo, reply?: (v: unknown) => void): void {
    // Two literals rather than a spread: this runs once per message.
    const msg: ServerEventMsg =
      reply === undefined
        ? { event, id: event[0], data: event[1], uid: from.uid, clientId: from.clientId, request, send: this.send }
        : { event, id: event[0], data: event[1], uid: from.uid, clientId: from.clientId, request, send: this.send, reply };
    this.recv.next(msg);
  }

  private publish(uid: Uid, event: ChskEvent, opts?: SendOptions): void {
    if (uid === null || uid === undefined) {
      throw new TypeError('send(uid, …): uid is required; send to ALL_USERS_WITHOUT_UID to reach anonymous clients');
    }
    assertEvent(event, 'send(uid, event): event');
    if (!reservedSendAllowed('server', event[0])) {
      throw new TypeError(`send(uid, event): ids in the chsk/ namespace are reserved (got ${event[0]})`);
    }
    const target = uid === ALL_USERS_WITHOUT_UID ? NIL_UID : String(uid);
    this.broker.publish({ uid: target, events: [event], flush: opts?.flush === true });
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
 * `ajaxGetOrWsHandshake`, `ajaxPost` and `attach`.
 */
export function createChannelSocketServer<TReq, TApi extends object>(
  adapter: ServerAdapter<TReq, TApi>,
  options: ServerOptions<TReq> = {},
): ChannelSocketServer & TApi {
  const srv = new Server<TReq>(options);
  const api = adapter.bind(srv);
  const base: ChannelSocketServer = {
    recv$: srv.recv.asObservable(),
    send: srv.send,
    connectedUids$: readonlyBehaviorSubject(srv.uids$),
    close: () => srv.close(),
  };
  return Object.assign(api, base);
}
