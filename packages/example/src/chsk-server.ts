/**
 * The example's channel socket server, typed by the contract (contract.ts), and the server API
 * the example is written against (issue 11): `recv$` typed and validated, `send(uid | { uid,
 * clientId }, ev)`, `broadcast(ev)` and `request({ uid, clientId }, ev, { timeoutMs })`.
 *
 * STOPGAP, to be replaced at merge: that API is being added to `@sente-rx/server` in parallel
 * (its `events` option, `broadcast`, `request`, `send` to one client). Until it is there, this
 * module builds it on today's server: `recv$` is validated here, `broadcast` reaches every
 * connected uid (and the anonymous ones), `send` to one client reaches every client of its uid,
 * and `request` is not possible (the server cannot push `chsk/req` yet): it errors `chsk/error`
 * and `SERVER_REQUESTS_SUPPORTED` is false. With the server's API, the whole body becomes
 * `return createChannelSocketServer(nodeAdapter(), { ...options, events })` and this file keeps
 * only the types.
 */
import type http from 'node:http';
import {
  ALL_USERS_WITHOUT_UID,
  ChskError,
  NIL_UID,
  type ReadonlyBehaviorSubject,
  type ReplyOf,
  type ServerEvent,
  type ServerEventMsgOf,
  type Uid,
  validateIncoming,
} from '@sente-rx/core';
import { type ConnectedUids, createChannelSocketServer, type SendOptions, type ServerEventMsg, type ServerOptions } from '@sente-rx/server';
import { type NodeAdapterApi, nodeAdapter } from '@sente-rx/server/node';
import { filter, map, type Observable, throwError } from 'rxjs';
import { events, type ExampleEvents } from './contract.js';

/** What the example's router handles: the contract's client events and the reserved server events. */
export type ExampleServerMsg = ServerEventMsgOf<ExampleEvents, Omit<ServerEventMsg, 'event' | 'id' | 'data' | 'reply'>>;

/** One client (tab) of one user. */
export interface ClientTarget {
  readonly uid: Uid;
  readonly clientId: string;
}

export interface ExampleChsk extends NodeAdapterApi {
  readonly recv$: Observable<ExampleServerMsg>;
  readonly connectedUids$: ReadonlyBehaviorSubject<ConnectedUids>;
  /** To every client of a uid, or to one client. */
  send(target: Uid | ClientTarget, event: ServerEvent<ExampleEvents>, opts?: SendOptions): void;
  /** To every connected client, named or anonymous. */
  broadcast(event: ServerEvent<ExampleEvents>, opts?: SendOptions): void;
  /** Asks one client; the Observable emits its reply, or errors `chsk/timeout`, `chsk/closed` or `chsk/error`. */
  request<E extends ServerEvent<ExampleEvents>>(target: ClientTarget, event: E, opts: { readonly timeoutMs: number }): Observable<ReplyOf<ExampleEvents, 'server', E[0]>>;
  close(): Promise<void>;
}

/** Whether `request` works with the server build in use (false until the server API lands; see above). */
export const SERVER_REQUESTS_SUPPORTED = false;

export function createExampleChsk(options: ServerOptions<http.IncomingMessage>): ExampleChsk {
  const chsk = createChannelSocketServer(nodeAdapter(), options);
  const logger = options.logger;
  const toUid = (uid: Uid): Uid => (uid === NIL_UID ? ALL_USERS_WITHOUT_UID : uid);
  const recv$ = chsk.recv$.pipe(
    map((msg): ExampleServerMsg | undefined => {
      if (msg.id.startsWith('chsk/')) return msg as ExampleServerMsg; // STOPGAP: the server's own events
      const checked = validateIncoming(events, 'client', msg.event, { replyAsked: msg.reply !== undefined });
      if (checked.ok) return { ...msg, event: checked.value, id: checked.value[0], data: checked.value[1] } as ExampleServerMsg; // STOPGAP
      logger?.warn('sente-rx: dropped an event that failed validation', { id: msg.id, issues: checked.issues });
      msg.reply?.('chsk/error');
      return undefined;
    }),
    filter((m): m is ExampleServerMsg => m !== undefined),
  );
  return {
    ...chsk,
    recv$,
    send: (target, event, opts) => chsk.send(toUid(typeof target === 'string' ? target : target.uid), event, opts),
    broadcast: (event, opts) => {
      for (const uid of chsk.connectedUids$.value.any) chsk.send(toUid(uid), event, opts);
    },
    request: (target) =>
      throwError(() => new ChskError('chsk/error', `server→client requests need @sente-rx/server with request() (asked ${target.uid})`)),
    close: () => chsk.close(),
  };
}
