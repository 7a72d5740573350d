/**
 * The envelope: every message, in either direction and over either transport, is the packer's
 * encoding of `[payload, cbId | null]` (Sente v1.21's format). See PROTOCOL.md for the catalogue.
 */
import { asEvent, type ChskEvent, isEvent, isReservedId, NIL_UID, preview, type Uid } from './event.js';
import type { EnvelopeKind, Packed, Packer } from './packer.js';
import { ReservedId } from './protocol.js';
import { type HandshakeRecovery, recoveryElement, splitHandshakeRecovery } from './positions.js';

/** Correlates a request with its reply: 1–64 characters, opaque to the server. */
export type CbId = string;
export type Envelope = readonly [payload: unknown, cbId: CbId | null];

/** The cbId an Ajax POST carries when it wants a reply (the HTTP response is the correlation). */
export const AJAX_CB_ID = 'ajax';
export const MAX_CB_ID_LENGTH = 64;

/** Special payloads (the strings stand where Sente has keywords). */
export const WS_PING = 'chsk/ws-ping';
export const WS_PONG = 'chsk/ws-pong';
export const PONG = 'pong';
export const LP_TIMEOUT = 'chsk/timeout';
export const DUMMY_CB_200 = 'chsk/dummy-cb-200';
export const HANDSHAKE = 'chsk/handshake';

/**
 * The data of the client's local `chsk/handshake` event (DESIGN.md §3). The wire layout differs
 * (Sente's `[uid, null, handshakeData, first?]`, see {@link handshakeEnvelope}); the client
 * builds this tuple from it.
 */
export type HandshakeData = readonly [uid: Uid, handshakeData: unknown, firstHandshake: boolean];

// ---- encoders ---------------------------------------------------------------------------------

export const envelope = (payload: unknown, cbId: CbId | null = null): Envelope => [payload, cbId];
/**
 * The handshake in Sente's layout: `["chsk/handshake", [uid, null, handshakeData, first?]]`.
 * Index 1 is Sente's old csrf-token slot, always `null`. `first` (the server had no entry for
 * this client id) is sente-rx's own fourth element, left out when `undefined`: Sente's client
 * reads `[uid _ handshake-data]` and ignores it either way.
 */
export const handshakeEnvelope = (uid: Uid, handshakeData: unknown, first?: boolean, recovery?: HandshakeRecovery): Envelope => [
  [
    HANDSHAKE,
    // `recovery` (only for a client that announced support, PROTOCOL.md §11) always travels 5th, after `first`.
    recovery !== undefined
      ? [uid, null, handshakeData ?? null, first === true, recoveryElement(recovery)]
      : first === undefined
        ? [uid, null, handshakeData ?? null]
        : [uid, null, handshakeData ?? null, first],
  ],
  null,
];
export const batchEnvelope = (events: readonly ChskEvent[]): Envelope => [events, null];

/** An envelope together with the {@link EnvelopeKind} that packs it. */
export interface KindedEnvelope {
  readonly value: Envelope;
  readonly kind: EnvelopeKind;
}

const kinded = (kind: EnvelopeKind, payload: unknown, cbId: CbId | null = null): KindedEnvelope => ({ value: [payload, cbId], kind });

/**
 * C→S over WebSocket: `[event, cbId | null]` (the keep-alive ping and pong too); `Envelopes.clientEvent`.
 * Standalone, like {@link ajaxEventEnvelope}, so a client bundle need not carry the server's envelopes.
 */
export const clientEventEnvelope = (event: ChskEvent, cbId: CbId | null): KindedEnvelope => kinded('client-event', event, cbId);
/** C→S Ajax POST: `[event, "ajax" | null]` (Sente's `:ajax` marker when a reply is wanted); `Envelopes.ajaxEvent`. */
export const ajaxEventEnvelope = (event: ChskEvent, wantsReply: boolean): KindedEnvelope => kinded('ajax-event', event, wantsReply ? AJAX_CB_ID : null);

/**
 * Every envelope sente-rx sends, built with its kind, so no call site picks a kind by hand
 * (PROTOCOL.md §1.1). Pack one with {@link packEnvelope}.
 */
export const Envelopes = /* @__PURE__ */ Object.freeze({
  /** S→C, see {@link handshakeEnvelope}. */
  handshake: (uid: Uid, handshakeData: unknown, first?: boolean, recovery?: HandshakeRecovery): KindedEnvelope => ({
    value: handshakeEnvelope(uid, handshakeData, first, recovery),
    kind: 'handshake',
  }),
  /** S→C push batch `[[ev, …], null]`. */
  batch: (events: readonly ChskEvent[]): KindedEnvelope => ({ value: batchEnvelope(events), kind: 'server-batch' }),
  /** S→C a handler's reply (user data): `[value, cbId]` over WebSocket, `[value, null]` for an Ajax POST. */
  reply: (value: unknown, cbId: CbId | null): KindedEnvelope => kinded('reply', value, cbId),
  /** S→C `["pong", cbId]`. */
  pong: (cbId: CbId): KindedEnvelope => kinded('pong', PONG, cbId),
  /** S→C `["chsk/ws-ping", null]`. */
  wsPing: (): KindedEnvelope => kinded('ws-ping', WS_PING),
  /** S→C `["chsk/timeout", null]`: an empty long poll, or an Ajax POST whose handler did not reply. */
  lpTimeout: (): KindedEnvelope => kinded('lp-timeout', LP_TIMEOUT),
  /** S→C `["chsk/dummy-cb-200", null]`: the answer to an Ajax POST without cb. */
  dummyCb200: (): KindedEnvelope => kinded('dummy-cb-200', DUMMY_CB_200),
  /** S→C `["chsk/closed", cbId]`: the server closed before the reply. */
  closed: (cbId: CbId | null): KindedEnvelope => kinded('closed', ReservedId.CLOSED, cbId),
  /** S→C `["chsk/error", cbId]`: the request could not be handled (or its reply packed). */
  error: (cbId: CbId | null): KindedEnvelope => kinded('error', ReservedId.ERROR, cbId),
  /** C→S over WebSocket: `[event, cbId | null]` (the keep-alive ping and pong too). */
  clientEvent: clientEventEnvelope,
  /** C→S Ajax POST: `[event, "ajax" | null]` (Sente's `:ajax` marker when a reply is wanted). */
  ajaxEvent: ajaxEventEnvelope,
});

/** Packs an envelope with its kind. Throws what the packer throws. */
export const packEnvelope = (packer: Packer, e: KindedEnvelope): Packed => packer.pack(e.value, e.kind);

/**
 * Packs the handshake for `packer`: with Sente's formats (`senteFormat`) exactly Sente's
 * 3-element `[uid, null, handshakeData]`, byte for byte what a Sente v1.21 server sends; with
 * the others the fourth element `first` too; for a recovery client, `first` and the recovery
 * element (PROTOCOL.md §11.3).
 */
export const packHandshake = (packer: Packer, uid: Uid, handshakeData: unknown, first: boolean, recovery?: HandshakeRecovery): Packed =>
  // With a recovery element (only for sente-rx clients that sent `pos`), `first` is always there, before it.
  packEnvelope(packer, Envelopes.handshake(uid, handshakeData, packer.senteFormat === true && recovery === undefined ? undefined : first, recovery));

/**
 * A uid as it came in a handshake, as a sente-rx `Uid` (a string). Sente allows any value as a
 * uid (#233): a string stays itself (EDN and Transit read keywords as their names, so
 * `:sente/nil-uid` is already `NIL_UID`), `null` is `NIL_UID` (Sente's nil uid), numbers,
 * bigints and booleans become their decimal text, and anything else its JSON text.
 */
export function uidFromWire(x: unknown): Uid {
  if (typeof x === 'string') return x;
  if (x === null || x === undefined) return NIL_UID;
  if (typeof x === 'number' || typeof x === 'bigint' || typeof x === 'boolean') return String(x);
  return preview(x, Infinity);
}

// ---- decoders ---------------------------------------------------------------------------------

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

function isCbId(x: unknown): x is CbId | null {
  return x === null || (typeof x === 'string' && x.length > 0 && x.length <= MAX_CB_ID_LENGTH);
}

/** Checks the envelope shape only; what the payload must be depends on the side and context. */
export function parseEnvelope(x: unknown): Parsed<Envelope> {
  if (!Array.isArray(x)) return fail(`envelope must be a 2-element array [payload, cbId|null], got ${preview(x, 60)}`);
  if (x.length !== 2) return fail(`envelope must have 2 elements [payload, cbId|null], got ${x.length}`);
  if (!isCbId(x[1])) return fail(`envelope cbId must be null or a string of 1-${MAX_CB_ID_LENGTH} chars, got ${preview(x[1], 60)}`);
  return { ok: true, value: x as unknown as Envelope };
}

/** What a server receives from a client: always an event, with a cbId when a reply is wanted. */
export interface ClientMessage {
  readonly event: ChskEvent;
  readonly cbId: CbId | null;
}

/** What a client receives from a server, classified. */
export type ServerMessage =
  | { readonly kind: 'handshake'; readonly uid: Uid; readonly handshakeData: unknown; readonly first: boolean; readonly recovery?: HandshakeRecovery }
  | { readonly kind: 'batch'; readonly events: readonly ChskEvent[] }
  | { readonly kind: 'ping' }
  | { readonly kind: 'lp-timeout' }
  | { readonly kind: 'reply'; readonly cbId: CbId; readonly value: unknown };

/**
 * The cbId of `x` when it is a reply envelope `[value, cbId]` (a valid cbId), else `undefined`:
 * what {@link parseServerMessage} classifies as `reply`, checked without building anything, for
 * a client's receive path, where nearly every message under request/reply load is a reply.
 */
export function replyCbId(x: unknown): CbId | undefined {
  if (!Array.isArray(x) || x.length !== 2) return undefined;
  const cbId: unknown = x[1];
  return typeof cbId === 'string' && cbId.length > 0 && cbId.length <= MAX_CB_ID_LENGTH ? cbId : undefined;
}

/** A batch's entries as events; the unpacked array itself when every entry is one already (the usual case: no copy per push). */
function asEvents(payload: readonly unknown[]): readonly ChskEvent[] {
  for (const x of payload) if (!isEvent(x)) return payload.map(asEvent);
  return payload as readonly ChskEvent[];
}

/**
 * Classifies a message pushed by the server (a WebSocket frame, or an Ajax poll response).
 * Malformed events inside a batch become `['chsk/bad-event', x]`, as Sente's `as-event`.
 */
export function parseServerMessage(x: unknown): Parsed<ServerMessage> {
  const replyTo = replyCbId(x);
  if (replyTo !== undefined) return { ok: true, value: { kind: 'reply', cbId: replyTo, value: (x as Envelope)[0] } };
  const env = parseEnvelope(x);
  if (!env.ok) return env;
  const [payload, cbId] = env.value;
  if (cbId !== null) return { ok: true, value: { kind: 'reply', cbId, value: payload } };
  if (payload === WS_PING) return { ok: true, value: { kind: 'ping' } };
  if (payload === LP_TIMEOUT) return { ok: true, value: { kind: 'lp-timeout' } };
  if (Array.isArray(payload)) {
    if (payload[0] === HANDSHAKE) {
      // Sente's layout [uid, _, handshakeData, first?]: index 1 is ignored, as Sente's client does.
      const raw: unknown = payload[1];
      if (!Array.isArray(raw) || raw.length === 0) {
        return fail(`handshake must be ["chsk/handshake", [uid, null, handshakeData, first?]], got ${preview(payload, 80)}`);
      }
      const { rest: hs, recovery } = splitHandshakeRecovery(raw);
      const value = { kind: 'handshake', uid: uidFromWire(hs[0]), handshakeData: hs[2] ?? null, first: hs[3] === true } as const;
      return { ok: true, value: recovery === undefined ? value : { ...value, recovery } };
    }
    return { ok: true, value: { kind: 'batch', events: asEvents(payload) } };
  }
  return fail(`unknown server payload ${preview(payload, 80)}`);
}

/**
 * Classifies a message sent by a client; the payload must be a valid event. A 1-element
 * `[event]` is taken as `[event, null]` (Sente's server accepts it; Sente ≤ 1.20 clients send it).
 */
export function parseClientMessage(x: unknown): Parsed<ClientMessage> & { cbId?: CbId | null } {
  const env = parseEnvelope(Array.isArray(x) && x.length === 1 ? [x[0], null] : x);
  if (!env.ok) return env;
  const [payload, cbId] = env.value;
  if (!isEvent(payload)) {
    return { ok: false, reason: `payload must be an event [id, data?] with a namespaced string id, got ${preview(payload, 80)}`, cbId };
  }
  return { ok: true, value: { event: payload, cbId } };
}

/**
 * What a client message means to a server, decided once, here: the server acts on the kind and
 * never re-decides the policy.
 * - `not-an-envelope`: not `[payload, cbId|null]` (a WebSocket server closes the socket);
 * - `bad-event`: an envelope whose payload is not a valid event, or is an event with a reserved
 *   `chsk/` id a client may not send; `cbId` says where to send `chsk/error`, if anywhere;
 * - `ping` / `pong`: the keep-alive events `["chsk/ws-ping"]` / `["chsk/ws-pong"]`;
 * - `event`: an application event, with a cbId when the client wants a reply.
 */
export type ClientMessageKind =
  | { readonly kind: 'not-an-envelope'; readonly reason: string }
  | { readonly kind: 'bad-event'; readonly reason: string; readonly cbId: CbId | null; readonly event?: ChskEvent }
  | { readonly kind: 'ping'; readonly event: ChskEvent; readonly cbId: CbId | null }
  | { readonly kind: 'pong'; readonly event: ChskEvent; readonly cbId: CbId | null }
  | { readonly kind: 'event'; readonly event: ChskEvent; readonly cbId: CbId | null };

/** Classifies a message sent by a client (see `ClientMessageKind`). */
export function classifyClientMessage(x: unknown): ClientMessageKind {
  const parsed = parseClientMessage(x);
  if (!parsed.ok) {
    return parsed.cbId === undefined ? { kind: 'not-an-envelope', reason: parsed.reason } : { kind: 'bad-event', reason: parsed.reason, cbId: parsed.cbId };
  }
  const { event, cbId } = parsed.value;
  const id = event[0];
  if (id === WS_PING) return { kind: 'ping', event, cbId };
  if (id === WS_PONG) return { kind: 'pong', event, cbId };
  if (isReservedId(id)) return { kind: 'bad-event', reason: `reserved event id ${id}`, cbId, event };
  return { kind: 'event', event, cbId };
}
