/**
 * `mockServerChsk`: a double of the channel socket server whose `recv$`, `connectedUids$` and
 * the clients' replies to `request` are marble diagrams on a `TestScheduler`, and which records
 * every `send`, `broadcast` and `request` of the code under test and every reply it gave.
 */
import { BehaviorSubject, EMPTY, map, type Observable, share, Subject, takeUntil, throwError } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import {
  type ChskEvent,
  type EventContract,
  type EventIdOf,
  type EventOf,
  NIL_UID,
  type ReadonlyBehaviorSubject,
  readonlyBehaviorSubject,
  type ReplyOf,
  type ServerEvent,
  type ServerEventMsgOf,
  type ServerReservedEvents,
  type Uid,
  type UntypedContract,
} from '@sente-rx/core';
import type { ConnectedUids, RequestInfo, SendOptions } from '@sente-rx/server';
import { closedError, hotFrom, type MarbleSpec, MockRecords, replyFrom } from './marbles.js';
import type { Replied, ReservedEventOf } from './mock-client.js';

/** One client (tab) of a user: the target of `request`, or of a `send` to that client only. */
export interface ClientTarget {
  readonly uid: Uid;
  readonly clientId: string;
}

/** What a mock server's `recv$` may carry: client events (receiver's view) and the reserved server events. */
export type ServerIncomingEvent<C extends EventContract = UntypedContract> =
  | EventOf<C, 'client', 'output'>
  | ReservedEventOf<ServerReservedEvents>;

/** A value of the `recv` marble: an event (from `NIL_UID`, client `mock-client`), or the event with its sender and whether it asks for a reply. */
export type MockServerIncoming<C extends EventContract = UntypedContract> =
  | ServerIncomingEvent<C>
  | { readonly event: ServerIncomingEvent<C>; readonly uid?: Uid; readonly clientId?: string; readonly reply?: boolean };

export interface MockServerApi<C extends EventContract = UntypedContract> {
  /** To every client of `target.uid`, or to one client. */
  send(target: Uid | ClientTarget, event: ServerEvent<C>, opts?: SendOptions): void;
  broadcast(event: ServerEvent<C>, opts?: SendOptions): void;
  request<E extends ServerEvent<C>>(target: ClientTarget, event: E, opts: { readonly timeoutMs: number }): Observable<ReplyOf<C, 'server', E[0]>>;
}

export type MockServerMsg<C extends EventContract = UntypedContract> = ServerEventMsgOf<
  C,
  {
    readonly uid: Uid;
    readonly clientId: string;
    readonly request: RequestInfo;
    readonly send: MockServerApi<C>['send'];
  }
>;

/** One thing the code under test sent, at virtual time `frame`. */
export type ServerSent<C extends EventContract = UntypedContract> =
  | { readonly frame: number; readonly kind: 'send'; readonly target: Uid | ClientTarget; readonly event: ServerEvent<C>; readonly opts?: SendOptions }
  | { readonly frame: number; readonly kind: 'broadcast'; readonly event: ServerEvent<C>; readonly opts?: SendOptions }
  | { readonly frame: number; readonly kind: 'request'; readonly target: ClientTarget; readonly event: ServerEvent<C>; readonly opts: { readonly timeoutMs: number } };

/** `connectedUids$` values as lists; each list left out is empty. */
export interface ConnectedUidsValue {
  readonly ws?: readonly Uid[];
  readonly ajax?: readonly Uid[];
  /** @default ws ∪ ajax */
  readonly any?: readonly Uid[];
}

export interface MockServerOptions<C extends EventContract = UntypedContract> {
  readonly scheduler: TestScheduler;
  /** The contract, for types only (the mock does not validate). */
  readonly events?: C;
  /** Marble of `recv$` (hot, from frame 0). */
  readonly recv?: MarbleSpec<MockServerIncoming<C>>;
  readonly values?: Readonly<Record<string, MockServerIncoming<C>>>;
  /** Marble of `connectedUids$` (hot); it starts with no one connected. */
  readonly connectedUids?: MarbleSpec<ConnectedUidsValue>;
  readonly connectedValues?: Readonly<Record<string, ConnectedUidsValue>>;
  /** The clients' reply marbles for `request`, by event id (same rules as the mock client's `replies`). */
  readonly replies?: { readonly [Id in EventIdOf<C, 'server'>]?: MarbleSpec<ReplyOf<C, 'server', Id>> };
  readonly replyValues?: Readonly<Record<string, unknown>>;
}

export interface MockServerChsk<C extends EventContract = UntypedContract> extends MockServerApi<C> {
  readonly recv$: Observable<MockServerMsg<C>>;
  readonly connectedUids$: ReadonlyBehaviorSubject<ConnectedUids>;
  /** Completes `recv$`; later sends are ignored and requests error `'chsk/closed'`. */
  close(): Promise<void>;
  readonly sent: readonly ServerSent<C>[];
  readonly sent$: Observable<ServerSent<C>>;
  /** Replies the code under test gave (`msg.reply`), first call per msg only. */
  readonly replied: readonly (Replied & { readonly uid: Uid; readonly clientId: string })[];
  readonly replied$: Observable<Replied & { readonly uid: Uid; readonly clientId: string }>;
}

const MOCK_REQUEST: RequestInfo = Object.freeze({ transport: 'ws', method: 'GET', url: '/chsk', headers: {}, remoteAddress: '127.0.0.1' });

const isIncomingSpec = (x: unknown): x is { readonly event: ChskEvent; readonly uid?: Uid; readonly clientId?: string; readonly reply?: boolean } =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && 'event' in x;

const toConnected = (v: ConnectedUidsValue): ConnectedUids => {
  const ws = new Set(v.ws ?? []);
  const ajax = new Set(v.ajax ?? []);
  return { ws, ajax, any: new Set(v.any ?? [...ws, ...ajax]) };
};

export function mockServerChsk<C extends EventContract = UntypedContract>(options: MockServerOptions<C>): MockServerChsk<C> {
  const { scheduler } = options;
  const closed$ = new Subject<void>();
  let closed = false;
  const records = new MockRecords<ServerSent<C>, Replied & { readonly uid: Uid; readonly clientId: string }>();
  const replySpecs = (options.replies ?? {}) as Readonly<Record<string, MarbleSpec<unknown> | undefined>>;
  const withOpts = <T extends object>(record: T, opts: SendOptions | undefined): T => (opts === undefined ? record : { ...record, opts });

  const api: MockServerApi<C> = {
    send: (target, event, opts) => {
      if (!closed) records.recordSent(withOpts({ frame: scheduler.now(), kind: 'send' as const, target, event }, opts));
    },
    broadcast: (event, opts) => {
      if (!closed) records.recordSent(withOpts({ frame: scheduler.now(), kind: 'broadcast' as const, event }, opts));
    },
    request: (<E extends ServerEvent<C>>(target: ClientTarget, event: E, opts: { readonly timeoutMs: number }): Observable<unknown> => {
      if (typeof opts?.timeoutMs !== 'number') throw new TypeError('mockServerChsk: request needs { timeoutMs }');
      if (closed) return throwError(closedError);
      records.recordSent({ frame: scheduler.now(), kind: 'request', target, event, opts });
      return replyFrom(scheduler, replySpecs[event[0]], options.replyValues, opts.timeoutMs);
    }) as MockServerApi<C>['request'],
  };

  const toMsg = (value: MockServerIncoming<C>): MockServerMsg<C> => {
    const spec = isIncomingSpec(value) ? value : undefined;
    const event = (spec === undefined ? value : spec.event) as ChskEvent;
    const id = event[0];
    const uid = spec?.uid ?? NIL_UID;
    const clientId = spec?.clientId ?? 'mock-client';
    let answered = false;
    const reply = (v: unknown): void => {
      if (answered) return;
      answered = true;
      records.recordReplied({ frame: scheduler.now(), id, value: v, uid, clientId });
    };
    const msg = { event, id, data: event[1], uid, clientId, request: MOCK_REQUEST, send: api.send };
    return (spec?.reply === true ? { ...msg, reply } : msg) as unknown as MockServerMsg<C>;
  };

  const recv$ = (options.recv === undefined ? EMPTY : hotFrom(scheduler, options.recv, options.values)).pipe(
    map(toMsg),
    takeUntil(closed$),
    share(),
  );

  const connected = new BehaviorSubject<ConnectedUids>(toConnected({}));
  if (options.connectedUids !== undefined) {
    hotFrom(scheduler, options.connectedUids, options.connectedValues)
      .pipe(takeUntil(closed$), map(toConnected))
      .subscribe((v) => connected.next(v));
  }

  return {
    ...api,
    recv$,
    connectedUids$: readonlyBehaviorSubject(connected),
    close: async () => {
      if (closed) return;
      closed = true;
      closed$.next();
      connected.complete();
      records.complete();
    },
    ...records.expose(),
  };
}
