/**
 * `mockClientChsk`: a double of the channel socket client whose `recv$`, `state$` and replies
 * are marble diagrams on a `TestScheduler`, and which records what the code under test sent.
 *
 * ```ts
 * new TestScheduler(assertDeepEqual).run(({ expectObservable }) => {
 *   const chsk = mockClientChsk({
 *     scheduler, events,
 *     recv: '--a---b', values: { a: ['chat/typing', { from: 'bob' }], b: ['chat/msg', { from: 'bob', text: 'hi' }] },
 *     replies: { 'chat/post': '---r' }, replyValues: { r: { id: 1 } },
 *   });
 *   appUnderTest(chsk);
 *   expectObservable(chsk.sent$.pipe(map((s) => s.event))).toBe('-----x', { x: ['chat/post', { text: 'hi' }] });
 * });
 * ```
 */
import { BehaviorSubject, EMPTY, map, type Observable, share, Subject, takeUntil, throwError } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import {
  type ChskEvent,
  type ChskState,
  type ClientEvent,
  type ClientEventMsgOf,
  type ClientReservedEvents,
  type EventContract,
  type EventIdOf,
  type EventOf,
  type EventTuple,
  initialState,
  type ReadonlyBehaviorSubject,
  readonlyBehaviorSubject,
  type ReplyOf,
  type StatePair,
  type UntypedContract,
} from '@sente-rx/core';
import { closedError, hotFrom, type MarbleSpec, MockRecords, replyFrom } from './marbles.js';

/** Reserved events as `[id, data]` tuples. */
export type ReservedEventOf<TEvents> = { [Id in keyof TEvents & string]: EventTuple<Id, TEvents[Id]> }[keyof TEvents & string];

/** What a mock client's `recv$` may carry: the server's pushes (receiver's view) and the reserved client events. */
export type ClientIncomingEvent<C extends EventContract = UntypedContract> =
  | EventOf<C, 'server', 'output'>
  | ReservedEventOf<ClientReservedEvents<C>>;

/** A value of the `recv` marble: an event, or `{ event, reply: true }` for a server request (its msg gets `reply`). */
export type MockClientIncoming<C extends EventContract = UntypedContract> =
  | ClientIncomingEvent<C>
  | { readonly event: ClientIncomingEvent<C>; readonly reply: true };

export type MockClientSend<C extends EventContract = UntypedContract> = <E extends ClientEvent<C>>(
  event: E,
  opts?: { readonly timeoutMs?: number },
) => Observable<ReplyOf<C, 'client', E[0]>>;

export type MockClientMsg<C extends EventContract = UntypedContract> = ClientEventMsgOf<C, { readonly send: MockClientSend<C> }>;

/** One `send` by the code under test, at virtual time `frame`. */
export interface ClientSent<C extends EventContract = UntypedContract> {
  readonly frame: number;
  readonly event: ClientEvent<C>;
  readonly opts?: { readonly timeoutMs?: number };
}

/** One reply the code under test gave to a server request (only the first call per request counts). */
export interface Replied {
  readonly frame: number;
  readonly id: string;
  readonly value: unknown;
}

export interface LifecycleCall {
  readonly frame: number;
  readonly call: 'disconnect' | 'reconnect' | 'close';
}

export interface MockClientOptions<C extends EventContract = UntypedContract> {
  /** The scheduler of the test (`new TestScheduler(...)`); marbles run on it. */
  readonly scheduler: TestScheduler;
  /** The contract, for types only (the mock does not validate). */
  readonly events?: C;
  /** Marble of `recv$` (hot, from frame 0). */
  readonly recv?: MarbleSpec<MockClientIncoming<C>>;
  /** Values of the `recv` marble. */
  readonly values?: Readonly<Record<string, MockClientIncoming<C>>>;
  /** Marble of state changes (hot); each value is merged onto the current state and published as `[old, new]`. */
  readonly state?: MarbleSpec<Partial<ChskState>>;
  readonly stateValues?: Readonly<Record<string, Partial<ChskState>>>;
  /** Merged onto `initialState('auto')` (closed). */
  readonly initialState?: Partial<ChskState>;
  /**
   * Reply marbles by event id, run from the moment of each `send` with `timeoutMs`: the first
   * value is the reply; `#` errors `'chsk/error'`; none (or too slow) errors `'chsk/timeout'` at `timeoutMs`.
   */
  readonly replies?: { readonly [Id in EventIdOf<C, 'client'>]?: MarbleSpec<ReplyOf<C, 'client', Id>> };
  /** Values of the reply marbles given as strings. */
  readonly replyValues?: Readonly<Record<string, unknown>>;
  /** @default 'mock-client' */
  readonly clientId?: string;
}

/** The double: the real client's shape plus the records. */
export interface MockClientChsk<C extends EventContract = UntypedContract> {
  readonly recv$: Observable<MockClientMsg<C>>;
  readonly state$: ReadonlyBehaviorSubject<StatePair>;
  readonly state: ChskState;
  readonly clientId: string;
  /** Eager like the real one: recorded at once; with `timeoutMs` the Observable is the reply marble's first value. */
  readonly send: MockClientSend<C>;
  disconnect(): void;
  reconnect(): void;
  /** Completes `recv$` and `state$`; later sends error `'chsk/closed'`. */
  close(): void;
  /** What the code under test sent, in order. */
  readonly sent: readonly ClientSent<C>[];
  readonly sent$: Observable<ClientSent<C>>;
  /** Replies the code under test gave to server requests. */
  readonly replied: readonly Replied[];
  readonly replied$: Observable<Replied>;
  readonly calls: readonly LifecycleCall[];
}

const isIncomingSpec = (x: unknown): x is { readonly event: ChskEvent; readonly reply: true } =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && 'event' in x;

export function mockClientChsk<C extends EventContract = UntypedContract>(options: MockClientOptions<C>): MockClientChsk<C> {
  const { scheduler } = options;
  const closed$ = new Subject<void>();
  let closed = false;
  const records = new MockRecords<ClientSent<C>, Replied>();
  const calls: LifecycleCall[] = [];
  const replySpecs = (options.replies ?? {}) as Readonly<Record<string, MarbleSpec<unknown> | undefined>>;

  const send = ((event: ChskEvent, opts?: { readonly timeoutMs?: number }): Observable<unknown> => {
    if (closed) return throwError(closedError);
    records.recordSent({ frame: scheduler.now(), event: event as ClientEvent<C>, ...(opts === undefined ? {} : { opts }) });
    if (opts?.timeoutMs === undefined) return EMPTY;
    return replyFrom(scheduler, replySpecs[event[0]], options.replyValues, opts.timeoutMs);
  }) as MockClientSend<C>;

  const toMsg = (value: MockClientIncoming<C>): MockClientMsg<C> => {
    const spec = isIncomingSpec(value) ? value : undefined;
    const event = (spec === undefined ? value : spec.event) as ChskEvent;
    const id = event[0];
    let answered = false;
    const reply = (v: unknown): void => {
      if (answered) return;
      answered = true;
      records.recordReplied({ frame: scheduler.now(), id, value: v });
    };
    return { event, id, data: event[1], send, ...(spec?.reply === true ? { reply } : {}) } as unknown as MockClientMsg<C>;
  };

  const recv$ = (options.recv === undefined ? EMPTY : hotFrom(scheduler, options.recv, options.values)).pipe(
    map(toMsg),
    takeUntil(closed$),
    share(),
  );

  const first: ChskState = { ...initialState('auto'), ...options.initialState };
  const state = new BehaviorSubject<StatePair>([first, first]);
  if (options.state !== undefined) {
    hotFrom(scheduler, options.state, options.stateValues)
      .pipe(takeUntil(closed$))
      .subscribe((change) => {
        const now = state.value[1];
        state.next([now, { ...now, ...change }]);
      });
  }

  const lifecycle = (call: LifecycleCall['call']): void => void calls.push({ frame: scheduler.now(), call });

  return {
    recv$,
    state$: readonlyBehaviorSubject(state),
    get state() {
      return state.value[1];
    },
    clientId: options.clientId ?? 'mock-client',
    send,
    disconnect: () => lifecycle('disconnect'),
    reconnect: () => lifecycle('reconnect'),
    close: () => {
      if (closed) return;
      lifecycle('close');
      closed = true;
      closed$.next();
      state.complete();
      records.complete();
    },
    ...records.expose(),
    calls,
  };
}
