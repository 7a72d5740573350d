import { ChskError } from './errors.js';

/** Bytes or text on the wire. */
export type Packed = string | Uint8Array;

/**
 * Which envelope a value is, named where the envelope is built. Formats with keywords (Sente's
 * EDN and Transit) need it: the same string is a keyword in one slot and user data in another,
 * and only the code that builds the envelope knows which. A packer without keywords (JSON,
 * msgpack) ignores it. Every kind's value is the whole 2-element envelope `[payload, cbId]`;
 * PROTOCOL.md §1.1 has the table. In Sente's formats:
 *
 * | kind | envelope | keywords on the wire |
 * |---|---|---|
 * | `client-event` | C→S `[[id, data?], cbId \| null]` over WebSocket, incl. `[["chsk/ws-ping"], cb]` and `[["chsk/ws-pong"], null]` | the event id |
 * | `ajax-event` | C→S `[[id, data?], "ajax" \| null]`, the Ajax POST body (`ppstr`) | the event id, and the cb slot `"ajax"` (Sente's `:ajax`) |
 * | `server-batch` | S→C `[[[id, data?], …], null]` | each event id |
 * | `handshake` | S→C `[["chsk/handshake", [uid, null, handshakeData, …]], null]` | `chsk/handshake`, and the uid when it is `"sente/nil-uid"` |
 * | `reply` | S→C `[value, cbId \| null]`: a handler's reply (WebSocket: its cbId; Ajax POST: `null`) | none: `value` is user data |
 * | `pong` | S→C `["pong", cbId]` | none (Sente sends the string `"pong"`) |
 * | `ws-ping` | S→C `["chsk/ws-ping", null]` | the payload |
 * | `lp-timeout` | S→C `["chsk/timeout", null]`: an empty long poll, or an Ajax POST whose handler did not reply | the payload |
 * | `dummy-cb-200` | S→C `["chsk/dummy-cb-200", null]`: an Ajax POST without cb | the payload |
 * | `closed` | `["chsk/closed", cbId \| null]`: a reply value reserved for failures | the payload |
 * | `error` | S→C `["chsk/error", cbId \| null]`: the failure reply to an invalid event | the payload |
 *
 * Without a kind a keyword format writes every string as a string (plain user data).
 */
export type EnvelopeKind =
  | 'client-event'
  | 'ajax-event'
  | 'server-batch'
  | 'handshake'
  | 'reply'
  | 'pong'
  | 'ws-ping'
  | 'lp-timeout'
  | 'dummy-cb-200'
  | 'closed'
  | 'error';

/** Every {@link EnvelopeKind}, for tests and exhaustive switches. */
export const ENVELOPE_KINDS: readonly EnvelopeKind[] = /* @__PURE__ */ Object.freeze([
  'client-event',
  'ajax-event',
  'server-batch',
  'handshake',
  'reply',
  'pong',
  'ws-ping',
  'lp-timeout',
  'dummy-cb-200',
  'closed',
  'error',
] as const);

/**
 * Turns values into wire data and back. The default is JSON text. A binary packer sets
 * `binary: true`; the WebSocket transport then sends binary frames, and Ajax uses
 * `application/octet-stream` bodies. Client and server must use the same packer.
 */
export interface Packer {
  readonly binary: boolean;
  /**
   * `true` for Sente's own formats (EDN, Transit): a client then posts Sente's form body
   * (`udt`, `client-id`, `ppstr=<packed envelope>`) so a Clojure Sente server can read it.
   * Absent or `false` (JSON, or any binary packer): the raw packed body.
   */
  readonly senteFormat?: boolean;
  /** `kind` says which envelope `value` is; packers without keywords ignore it. */
  pack(value: unknown, kind?: EnvelopeKind): Packed;
  /** Throws on data it cannot read; callers turn that into the outcome PROTOCOL.md defines. */
  unpack(data: Packed): unknown;
}

const decoder = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });

export const jsonPacker: Packer = /* @__PURE__ */ Object.freeze({
  binary: false,
  senteFormat: false,
  pack(value: unknown): string {
    const s = JSON.stringify(value);
    if (s === undefined) throw new ChskError('chsk/error', 'value cannot be packed as JSON');
    return s;
  },
  unpack(data: Packed): unknown {
    return JSON.parse(typeof data === 'string' ? data : decoder.decode(data));
  },
});
