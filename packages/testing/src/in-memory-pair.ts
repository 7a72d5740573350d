/**
 * `inMemoryPair`: the real client (`createChannelSocketClient`) and the real server core
 * (`createChannelSocketServer`) joined by an in-memory network that runs on one scheduler, so a
 * test drives connects, keep-alive, timeouts, reconnects, grace periods and long-polls in virtual
 * time (a `TestScheduler` or `VirtualTimeScheduler`) with no socket and no real timer.
 *
 * ```ts
 * const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
 * ts.run(({ flush }) => {
 *   const pair = inMemoryPair({ scheduler: ts, uid: 'alice', client: { type: 'ws' } });
 *   ts.schedule(() => pair.server.send('alice', ['chat/msg', { text: 'hi' }]), 100);
 *   ts.schedule(() => pair.network.silence(), 1_000);  // the path dies: only keep-alive notices
 *   flush();
 *   pair.close();
 * });
 * ```
 *
 * The client plugs in through its `transport` option (an in-memory WebSocket or long-poll per
 * connection attempt, picked by the client as its `type` and `auto` policy ask); the server through
 * an adapter whose requests go through `ServerCore.admit` (CSRF, origin and `authorized` run as
 * for a real request). Every message crosses the network after `latencyMs`, on the scheduler.
 */
import { createChannelSocketClient, type ChannelSocketClient, type ClientOptions, type Transport, type TransportContext, type TransportEvent } from '@sente-rx/client';
import {
  type ChskEvent,
  Envelopes,
  packEnvelope,
  CloseCode,
  DUMMY_CB_200,
  type EventContract,
  Header,
  type Packed,
  type Packer,
  parseEnvelope,
  parseServerMessage,
  Query,
  SKIP_CSRF_CHECK,
  type UntypedContract,
} from '@sente-rx/core';
import {
  type AjaxResponder,
  type ChannelSocketServer,
  createChannelSocketServer,
  type RequestInfo,
  type RequestView,
  type ServerChannel,
  type ServerCore,
  type ServerOptions,
  type WsConnection,
} from '@sente-rx/server';
import { type SchedulerLike, Subject } from 'rxjs';

/** The request a server option (`userId`, `csrfToken`, `authorized`, …) sees for an in-memory client. */
export interface InMemoryRequest {
  readonly transport: 'ws' | 'ajax';
  readonly method: 'GET' | 'POST';
  readonly clientId: string;
  /** The `uid` given for this client (`inMemoryPair({ uid })` or `addClient({ uid })`). */
  readonly uid: string | undefined;
  readonly query: URLSearchParams;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Network conditions, applied to every connection of the pair. */
export interface InMemoryNetwork {
  /** `'up'`, `'down'` (connections dropped, new ones refused) or `'silent'` (nothing arrives, nothing closes). */
  readonly condition: 'up' | 'down' | 'silent';
  /** Every open connection drops as a network failure would (1006 on both sides); new ones fail until `up()`. */
  down(): void;
  /** Messages in flight and from now on vanish both ways, with no close: only keep-alive and timeouts notice. */
  silence(): void;
  /** Back to normal: messages flow again (on the connections still open) and new connections succeed. */
  up(): void;
  /** Messages delivered so far, both ways. */
  readonly delivered: number;
  /**
   * What reached the clients, in order: one entry per server message (`handshake`, `batch`,
   * `ping`, `lp-timeout`, `reply`, or `HTTP <status>` for a refused Ajax request). Keeps the last
   * 10 000 entries.
   */
  readonly received: readonly ReceivedEntry[];
}

/** One server message as a client received it (see `InMemoryNetwork.received`). */
export interface ReceivedEntry {
  /** Scheduler time of arrival. */
  readonly at: number;
  readonly clientId: string;
  readonly transport: 'ws' | 'ajax';
  readonly kind: string;
}

const MAX_RECEIVED = 10_000;

export interface InMemoryClientOptions<C extends EventContract = UntypedContract> {
  /** The uid the server's default `userId` gives this client. @default undefined (anonymous) */
  readonly uid?: string;
  /** Client options; `scheduler` and `transport` are the pair's. `type` defaults to 'ws'. */
  readonly client?: Omit<ClientOptions, 'scheduler' | 'transport' | 'events'>;
  readonly events?: C;
  /** @default 'token' (the server's default `csrfToken` skips the check) */
  readonly csrfToken?: string | null;
}

export interface InMemoryPairOptions<C extends EventContract = UntypedContract> extends InMemoryClientOptions<C> {
  /** The one time source of the client, the server and the network. */
  readonly scheduler: SchedulerLike;
  /**
   * Server options; `scheduler` is the pair's. Defaults: `userId: (req) => req.uid`,
   * `csrfToken: () => SKIP_CSRF_CHECK`.
   */
  readonly server?: Omit<ServerOptions<InMemoryRequest>, 'scheduler'>;
  /** One-way delay of every message and connection attempt, on the scheduler. @default 1 */
  readonly latencyMs?: number;
  /** Must be the same on both ends. @default jsonPacker */
  readonly packer?: Packer;
}

export interface InMemoryPair<C extends EventContract = UntypedContract> {
  readonly server: ChannelSocketServer;
  readonly client: ChannelSocketClient<C> & { readonly pendingRequests: number };
  readonly network: InMemoryNetwork;
  /** Another client on the same server and network (another tab or user). */
  addClient<C2 extends EventContract = UntypedContract>(opts?: InMemoryClientOptions<C2>): ChannelSocketClient<C2> & { readonly pendingRequests: number };
  /** Closes every client and the server. */
  close(): Promise<void>;
}

interface Link {
  /** Delivers `fn` after the latency unless the network is down or silent by then. */
  readonly deliver: (fn: () => void) => void;
  readonly onDown: Set<() => void>;
  readonly net: { condition: InMemoryNetwork['condition']; delivered: number };
  readonly core: ServerCore<InMemoryRequest>;
  readonly scheduler: SchedulerLike;
  readonly received: (clientId: string, transport: 'ws' | 'ajax', kind: string) => void;
}

const info = (transport: 'ws' | 'ajax', method: 'GET' | 'POST', url: string, headers: Record<string, string>): RequestInfo => ({
  transport,
  method,
  url,
  headers,
  remoteAddress: 'in-memory',
});

function requestOf(transport: 'ws' | 'ajax', method: 'GET' | 'POST', ctx: TransportContext, uid: string | undefined, q: Record<string, string | undefined>) {
  const query = new URLSearchParams();
  query.set(Query.CLIENT_ID, ctx.clientId);
  for (const [k, v] of Object.entries(q)) if (v !== undefined) query.set(k, v);
  const token = ctx.csrfToken();
  const headers: Record<string, string> = transport === 'ajax' && token !== undefined ? { [Header.CSRF_TOKEN]: token } : {};
  const url = `/chsk?${query.toString()}`;
  const view: RequestView = { method, url, query, header: (name) => headers[name.toLowerCase()] };
  const req: InMemoryRequest = { transport, method, clientId: ctx.clientId, uid, query, headers };
  return { view, req, info: info(transport, method, url, headers) };
}

/** An in-memory WebSocket: one connection attempt. */
function wsTransport(link: Link, ctx: TransportContext, uid: string | undefined, connectTimeoutMs: number): Transport {
  const events = new Subject<TransportEvent>();
  const emit = (ev: TransportEvent): void => events.next(ev);
  let conn: WsConnection | null = null;
  /** The client side's view: open until either end closes or the client stops. */
  let open = false;
  let silenced = false;
  let gaveUp = false;
  let stopped = false;
  let serverSide: { readyState: number } | null = null;

  const toClient = (fn: () => void): void => link.deliver(() => {
    if (!silenced) fn();
  });
  let serverTold = false;
  /** The server's socket reports its close (once), as a ws 'close' event would. */
  const serverClosed = (code: number): void => {
    if (serverTold || conn === null) return;
    serverTold = true;
    if (serverSide !== null) serverSide.readyState = 3;
    conn.closed(code);
  };
  /** The client side ends: `notifyClient` reports it on the transport's events. */
  const clientClosed = (code: number, reason: string, clean: boolean, notifyClient: boolean): boolean => {
    if (!open) return false;
    open = false;
    link.onDown.delete(onDown);
    if (notifyClient) emit({ kind: 'closed', code, reason, clean });
    return true;
  };
  /** The client closes: the server learns it over the network (not at all if the path is dead). */
  const closeFromClient = (code: number, reason: string, clean: boolean, notifyClient: boolean): void => {
    if (clientClosed(code, reason, clean, notifyClient)) link.deliver(() => serverClosed(code));
  };
  /** The server closes: its own socket reports it at once; the client learns it over the network. */
  const closeFromServer = (code: number, reason: string, clean: boolean): void => {
    if (serverSide !== null) serverSide.readyState = 3;
    link.scheduler.schedule(() => serverClosed(code));
    toClient(() => clientClosed(code, reason, clean, true));
  };
  const onDown = (): void => {
    if (silenced) return;
    clientClosed(1006, 'network down', false, true);
    serverClosed(1006);
  };

  return {
    type: 'ws',
    keepAlive: true,
    events: events.asObservable(),
    connect() {
      // As the real transport: an attempt nobody answers (a silent network) is given up.
      const openTimer =
        connectTimeoutMs > 0
          ? link.scheduler.schedule(() => {
              if (open || gaveUp) return;
              gaveUp = true;
              emit({ kind: 'error', message: 'connect timeout' });
              emit({ kind: 'closed', code: 1006, reason: 'connect timeout', clean: false });
            }, connectTimeoutMs)
          : null;
      link.deliver(() => {
        openTimer?.unsubscribe();
        if (gaveUp || stopped) return;
        if (link.net.condition !== 'up') {
          emit({ kind: 'error', message: 'network down' });
          emit({ kind: 'closed', code: 1006, reason: 'network down', clean: false });
          return;
        }
        const { view, req, info: reqInfo } = requestOf('ws', 'GET', ctx, uid, { [Query.CSRF_TOKEN]: ctx.csrfToken() });
        const admission = link.core.admit(view, req);
        if (!admission.ok) {
          // As a refused upgrade: the browser reports an error, then 1006.
          toClient(() => {
            emit({ kind: 'error', message: `HTTP ${admission.rejection.status}` });
            emit({ kind: 'closed', code: 1006, reason: `HTTP ${admission.rejection.status}`, clean: false });
          });
          return;
        }
        const channel = {
          readyState: 1 as number,
          bufferedAmount: 0,
          send: (data) => {
            if (channel.readyState !== 1) return;
            toClient(() => {
              if (!open) return;
              const msg = parseServerMessage(ctx.packer.unpack(data));
              link.received(ctx.clientId, 'ws', msg.ok ? msg.value.kind : 'malformed');
              if (msg.ok) emit({ kind: 'message', message: msg.value });
              else ctx.logger.warn('sente-rx: ignored a malformed server message', { reason: msg.reason });
            });
          },
          close: (code, reason) => {
            if (channel.readyState === 1) closeFromServer(code, reason, true);
          },
          terminate: () => {
            if (channel.readyState === 1) closeFromServer(1006, '', false);
          },
        } satisfies ServerChannel;
        serverSide = channel;
        open = true;
        link.onDown.add(onDown);
        emit({ kind: 'open' });
        conn = admission.request.wsOpen(channel, reqInfo);
      });
    },
    send(event: ChskEvent, cbId: string | null): boolean {
      if (silenced) return true; // swallowed by the dead path
      if (!open) return false;
      const packed = packEnvelope(ctx.packer, Envelopes.clientEvent(event, cbId)); // throws when it cannot be packed
      const c = conn;
      link.deliver(() => {
        if (open && c !== null && !silenced) c.message(packed, ctx.packer.binary);
      });
      return true;
    },
    stop(code = CloseCode.NORMAL) {
      stopped = true;
      // A dead path carries no close frame: the server finds out by itself (its keep-alive).
      if (silenced) {
        open = false;
        link.onDown.delete(onDown);
        return;
      }
      closeFromClient(code, '', true, false);
    },
    simulateNetworkFailure(silent) {
      if (silent) {
        silenced = true;
        return;
      }
      closeFromClient(CloseCode.CLIENT_ABNORMAL, 'CLOSE_ABNORMAL', false, true);
    },
  };
}

/** An in-memory long-poll: one connection attempt (Sente §4.4, as transports/ajax.ts). */
function ajaxTransport(link: Link, ctx: TransportContext, uid: string | undefined, timeoutMs: number): Transport {
  const events = new Subject<TransportEvent>();
  const emit = (ev: TransportEvent): void => events.next(ev);
  let stopped = false;
  let handshaken = false;
  /** Requests in flight; each is abandoned (its server side told) on stop or failure. */
  const inFlight = new Set<() => void>();

  const fail = (code: number, reason: string): void => {
    if (stopped) return;
    stopped = true;
    link.onDown.delete(onDown);
    for (const abandon of [...inFlight]) abandon();
    emit({ kind: 'closed', code, reason, clean: false });
  };
  const onDown = (): void => fail(1006, 'network down');
  link.onDown.add(onDown);

  /** One HTTP request: `answer` gets the response, 'timeout' (client-side, ajaxTimeoutMs) or 'network' (down). */
  const http = (method: 'GET' | 'POST', q: Record<string, string | undefined>, body: Packed | null, answer: (r: { status: number; body: Packed } | 'timeout' | 'network') => void): void => {
    let settled = false;
    let abort: (() => void) | undefined;
    const settle = (r: { status: number; body: Packed } | 'timeout' | 'network'): void => {
      if (settled) return;
      settled = true;
      inFlight.delete(abandon);
      timer.unsubscribe();
      if (!stopped) answer(r);
    };
    const abandon = (): void => {
      settled = true;
      inFlight.delete(abandon);
      timer.unsubscribe();
      link.deliver(() => abort?.());
    };
    inFlight.add(abandon);
    // The client-side timeout (ajaxTimeoutMs): give the request up and tell the caller.
    const timer = link.scheduler.schedule(() => {
      abandon();
      if (!stopped) answer('timeout');
    }, timeoutMs);
    link.deliver(() => {
      if (settled) return;
      if (link.net.condition === 'down') {
        settle('network');
        return;
      }
      const { view, req, info: reqInfo } = requestOf('ajax', method, ctx, uid, q);
      const res = {
        done: false as boolean,
        respond(status: number, data: Packed): void {
          if (res.done) return;
          res.done = true;
          link.deliver(() => settle({ status, body: data }));
        },
        onAbort(fn: () => void): void {
          abort = fn;
        },
      } satisfies AjaxResponder;
      const admission = link.core.admit(view, req);
      if (!admission.ok) {
        res.respond(admission.rejection.status, admission.rejection.body ?? '');
        return;
      }
      if (method === 'GET') admission.request.ajaxGet(reqInfo, res);
      else admission.request.ajaxPost(reqInfo, body ?? '', res);
    });
  };

  const poll = (): void => {
    if (stopped) return;
    http('GET', { [Query.UDT]: String(link.scheduler.now()), [Query.HANDSHAKE]: ctx.isOpen() && handshaken ? undefined : '1' }, null, (r) => {
      if (r === 'timeout') return poll();
      if (r === 'network') return fail(1006, 'network down');
      if (r.status !== 200) {
        link.received(ctx.clientId, 'ajax', `HTTP ${r.status}`);
        return fail(r.status >= 500 ? CloseCode.INTERNAL_ERROR : 1008, `HTTP ${r.status}`);
      }
      const msg = parseServerMessage(ctx.packer.unpack(r.body));
      link.received(ctx.clientId, 'ajax', msg.ok ? msg.value.kind : 'malformed');
      if (!msg.ok) {
        ctx.logger.warn('sente-rx: ignored a malformed Ajax poll answer', { reason: msg.reason });
        return poll();
      }
      if (msg.value.kind === 'handshake') handshaken = true;
      emit({ kind: 'open' });
      if (msg.value.kind !== 'lp-timeout') emit({ kind: 'message', message: msg.value });
      poll();
    });
  };

  return {
    type: 'ajax',
    keepAlive: false,
    events: events.asObservable(),
    connect: poll,
    send(event: ChskEvent, cbId: string | null): boolean {
      if (stopped) return false;
      const packed = packEnvelope(ctx.packer, Envelopes.ajaxEvent(event, cbId !== null)); // throws when it cannot be packed
      http('POST', { [Query.UDT]: String(link.scheduler.now()) }, packed, (r) => {
        if (r === 'timeout') {
          if (cbId !== null) emit({ kind: 'reply', cbId, value: 'chsk/timeout' });
          return;
        }
        if (r === 'network') return fail(1006, 'network down');
        if (r.status !== 200) {
          if (cbId !== null) emit({ kind: 'reply', cbId, value: 'chsk/error' });
          if (r.status >= 500) fail(CloseCode.INTERNAL_ERROR, `HTTP ${r.status}`);
          return;
        }
        const env = parseEnvelope(ctx.packer.unpack(r.body));
        const value = env.ok ? env.value[0] : 'chsk/error';
        if (handshaken) emit({ kind: 'open' });
        if (cbId !== null) emit({ kind: 'reply', cbId, value });
        else if (value !== DUMMY_CB_200) ctx.logger.debug('sente-rx: an Ajax POST without a callback got an answer', { value });
      });
      return true;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      link.onDown.delete(onDown);
      for (const abandon of [...inFlight]) abandon();
    },
    simulateNetworkFailure() {
      fail(CloseCode.CLIENT_ABNORMAL, 'connection broken on request');
    },
  };
}

/** The real client and server over an in-memory network in virtual time (see the module comment). */
export function inMemoryPair<C extends EventContract = UntypedContract>(opts: InMemoryPairOptions<C>): InMemoryPair<C> {
  const { scheduler } = opts;
  const latencyMs = opts.latencyMs ?? 1;
  if (!(Number.isFinite(latencyMs) && latencyMs >= 0)) throw new TypeError(`inMemoryPair: latencyMs must be a finite number >= 0, got ${String(latencyMs)}`);
  const net = { condition: 'up' as InMemoryNetwork['condition'], delivered: 0 };
  const received: ReceivedEntry[] = [];
  const onDown = new Set<() => void>();
  let core: ServerCore<InMemoryRequest> | undefined;
  const server = createChannelSocketServer(
    { bind: (c: ServerCore<InMemoryRequest>) => ((core = c), {}) },
    {
      userId: (req) => req.uid,
      csrfToken: () => SKIP_CSRF_CHECK,
      ...(opts.packer === undefined ? {} : { packer: opts.packer }),
      ...opts.server,
      scheduler,
    },
  );
  if (core === undefined) throw new Error('inMemoryPair: the server did not bind its adapter');
  const link: Link = {
    core,
    net,
    onDown,
    scheduler,
    received: (clientId, transport, kind) => {
      received.push({ at: scheduler.now(), clientId, transport, kind });
      if (received.length > MAX_RECEIVED) received.shift();
    },
    deliver: (fn) => {
      if (net.condition === 'silent') return;
      scheduler.schedule(() => {
        if (net.condition === 'silent') return;
        net.delivered++;
        fn();
      }, latencyMs);
    },
  };

  const clients: ChannelSocketClient<EventContract>[] = [];
  const addClient = <C2 extends EventContract = UntypedContract>(o: InMemoryClientOptions<C2> = {}): ChannelSocketClient<C2> & { readonly pendingRequests: number } => {
    const clientOpts = o.client ?? {};
    const ajaxTimeoutMs = clientOpts.ajaxTimeoutMs ?? 60_000; // 60 s, as the real client
    const c = createChannelSocketClient<C2>('/chsk', o.csrfToken === undefined ? 'token' : o.csrfToken, {
      type: 'ws',
      ...clientOpts,
      ...(opts.packer === undefined ? {} : { packer: opts.packer }),
      ...(o.events === undefined ? {} : { events: o.events }),
      storage: clientOpts.storage ?? null,
      scheduler,
      transport: (ctx) =>
        ctx.type === 'ajax' ? ajaxTransport(link, ctx, o.uid, ajaxTimeoutMs) : wsTransport(link, ctx, o.uid, clientOpts.wsConnectTimeoutMs ?? 10_000), // 10 s, as the real client
    });
    clients.push(c as unknown as ChannelSocketClient<EventContract>);
    return c;
  };

  const client = addClient<C>(opts);
  const network: InMemoryNetwork = {
    get condition() {
      return net.condition;
    },
    get delivered() {
      return net.delivered;
    },
    received,
    down() {
      net.condition = 'down';
      for (const fn of [...onDown]) fn();
    },
    silence() {
      net.condition = 'silent';
    },
    up() {
      net.condition = 'up';
    },
  };
  return {
    server,
    client,
    network,
    addClient,
    async close() {
      for (const c of clients) c.close();
      await server.close();
    },
  };
}
