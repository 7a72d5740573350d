/**
 * The envelope: every message, in either direction and over either transport, is the packer's
 * encoding of `[payload, cbId | null]` (Sente v1.21's format). See PROTOCOL.md for the catalogue.
 */
import { asEvent, type ChskEvent, isEvent, isReservedId, preview, type Uid } from './event.js';

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

export type HandshakeData = readonly [uid: Uid, handshakeData: unknown, firstHandshake: boolean];

// ---- encoders ---------------------------------------------------------------------------------

export const envelope = (payload: unknown, cbId: CbId | null = null): Envelope => [payload, cbId];
/** `position`: the Ajax log position the client starts from, as a 4th element (PROTOCOL.md "Ajax positions"). */
export const handshakeEnvelope = (uid: Uid, handshakeData: unknown, first: boolean, position?: string): Envelope => [
  [HANDSHAKE, position === undefined ? [uid, handshakeData ?? null, first] : [uid, handshakeData ?? null, first, position]],
  null,
];
export const batchEnvelope = (events: readonly ChskEvent[]): Envelope => [events, null];

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
  | { readonly kind: 'handshake'; readonly uid: Uid; readonly handshakeData: unknown; readonly first: boolean }
  | { readonly kind: 'batch'; readonly events: readonly ChskEvent[] }
  | { readonly kind: 'ping' }
  | { readonly kind: 'lp-timeout' }
  | { readonly kind: 'reply'; readonly cbId: CbId; readonly value: unknown };

/**
 * Classifies a message pushed by the server (a WebSocket frame, or an Ajax poll response).
 * Malformed events inside a batch become `['chsk/bad-event', x]`, as Sente's `as-event`.
 */
export function parseServerMessage(x: unknown): Parsed<ServerMessage> {
  const env = parseEnvelope(x);
  if (!env.ok) return env;
  const [payload, cbId] = env.value;
  if (cbId !== null) return { ok: true, value: { kind: 'reply', cbId, value: payload } };
  if (payload === WS_PING) return { ok: true, value: { kind: 'ping' } };
  if (payload === LP_TIMEOUT) return { ok: true, value: { kind: 'lp-timeout' } };
  if (Array.isArray(payload)) {
    if (payload[0] === HANDSHAKE) {
      const hs: unknown = payload[1];
      if (!Array.isArray(hs) || typeof hs[0] !== 'string') {
        return fail(`handshake must be ["chsk/handshake", [uid, handshakeData, first]], got ${preview(payload, 80)}`);
      }
      return { ok: true, value: { kind: 'handshake', uid: hs[0], handshakeData: hs[1] ?? null, first: hs[2] === true } };
    }
    return { ok: true, value: { kind: 'batch', events: payload.map(asEvent) } };
  }
  return fail(`unknown server payload ${preview(payload, 80)}`);
}

/** Classifies a message sent by a client; the payload must be a valid event. */
export function parseClientMessage(x: unknown): Parsed<ClientMessage> & { cbId?: CbId | null } {
  const env = parseEnvelope(x);
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
