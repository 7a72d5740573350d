/**
 * The client's state map and its transitions, as pure functions (Sente §5). The client holds the
 * current map; every change is published as an `[old, new]` pair on `state$` and as a
 * `chsk/state` event, with the transient keys `openChanged`, `opened`, `closed` and `firstOpen`
 * set on `new` when `open` flipped.
 */
import type { Uid } from './event.js';

export type TransportType = 'ws' | 'ajax';
export type RequestedType = TransportType | 'auto';

export type CloseReason =
  | 'clean'
  | 'unexpected'
  | 'requested-disconnect'
  | 'requested-reconnect'
  | 'downgrading-ws-to-ajax'
  | 'ws-ping-timeout'
  | 'ws-error'
  /** The server refused a handshake or a poll with HTTP 401 or 403: no retry until `reconnect()`. */
  | 'unauthorized'
  /** More than `maxBufferedBytes` waited to be sent (a server that does not read): closed, reconnect with backoff. */
  | 'send-buffer-full';

export interface ChskState {
  /** The requested type until the first handshake, then the transport in use. */
  readonly type: RequestedType;
  readonly open: boolean;
  readonly everOpened: boolean;
  readonly uid: Uid | null;
  readonly handshakeData: unknown;
  readonly lastWsError?: { readonly udt: number; readonly message?: string };
  readonly lastWsClose?: { readonly udt: number; readonly code: number; readonly reason: string; readonly clean: boolean };
  /**
   * The last failed Ajax request (a poll or the handshake answered with an HTTP error, or no
   * answer at all: `status` 0), on the scheduler's clock, next to `lastWsError`.
   */
  readonly lastAjaxError?: { readonly udt: number; readonly status: number };
  /** Why the channel last closed; `status` is the HTTP status when the reason is 'unauthorized'. */
  readonly lastClose?: { readonly udt: number; readonly reason: CloseReason; readonly status?: number };
  /** When the next automatic reconnect is due (epoch ms). */
  readonly udtNextReconnect?: number;
  // Transient: present only on the `new` side of the pair in which `open` flipped.
  readonly openChanged?: true;
  readonly opened?: true;
  readonly closed?: true;
  readonly firstOpen?: true;
}

export type StatePair = readonly [old: ChskState, new: ChskState];

export function initialState(type: RequestedType): ChskState {
  return { type, open: false, everOpened: false, uid: null, handshakeData: null };
}

/** Drops the transient keys so they describe one transition only. */
function base(s: ChskState): ChskState {
  if (!s.openChanged && !s.opened && !s.closed && !s.firstOpen) return s;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { openChanged, opened, closed, firstOpen, ...rest } = s;
  return rest;
}

function without<K extends keyof ChskState>(s: ChskState, key: K): ChskState {
  if (!(key in s)) return s;
  const copy: Record<string, unknown> = { ...s };
  delete copy[key];
  return copy as unknown as ChskState;
}

export function onHandshake(s: ChskState, hs: { type: TransportType; uid: Uid; handshakeData: unknown }): ChskState {
  return without({ ...base(s), type: hs.type, open: true, everOpened: true, uid: hs.uid, handshakeData: hs.handshakeData }, 'udtNextReconnect');
}

/** Ajax: every successful poll or POST response proves the channel is open. */
export function onAjaxSuccess(s: ChskState): ChskState {
  return s.open ? base(s) : { ...base(s), open: true, everOpened: true };
}

export function onClosed(s: ChskState, reason: CloseReason, udt: number): ChskState {
  const b = without(base(s), 'udtNextReconnect');
  if (!b.open) return b;
  return { ...b, open: false, lastClose: { udt, reason } };
}

/**
 * The server refused with HTTP 401 or 403 (a handshake, an upgrade or a poll): `lastClose` says
 * so even when the channel was not open (a refused reconnect), and no retry is due.
 */
export function onUnauthorized(s: ChskState, status: number, udt: number): ChskState {
  return { ...without(base(s), 'udtNextReconnect'), open: false, lastClose: { udt, reason: 'unauthorized', status } };
}

export function onAjaxError(s: ChskState, udt: number, status: number): ChskState {
  return { ...base(s), lastAjaxError: { udt, status } };
}

export function onReconnectScheduled(s: ChskState, udt: number): ChskState {
  return { ...base(s), udtNextReconnect: udt };
}

export function onWsError(s: ChskState, udt: number, message?: string): ChskState {
  return { ...base(s), lastWsError: message === undefined ? { udt } : { udt, message } };
}

export function onWsClose(s: ChskState, close: { udt: number; code: number; reason: string; clean: boolean }): ChskState {
  return { ...base(s), lastWsClose: close };
}

function shallowEqual(a: ChskState, b: ChskState): boolean {
  const ka = Object.keys(a) as (keyof ChskState)[];
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

/**
 * The pair to publish for `old → next`, or `undefined` when nothing changed (Sente emits only on
 * change). Adds the transient keys to `next` when `open` flipped.
 */
export function transition(old: ChskState, next: ChskState): StatePair | undefined {
  const o = base(old);
  const n = base(next);
  if (shallowEqual(o, n)) return undefined;
  if (o.open === n.open) return [old, n];
  const flags: { openChanged: true; opened?: true; closed?: true; firstOpen?: true } = { openChanged: true };
  if (n.open) flags.opened = true;
  else flags.closed = true;
  if (n.open && !o.everOpened) flags.firstOpen = true;
  return [old, { ...n, ...flags }];
}
