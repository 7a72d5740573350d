/**
 * Every literal of the wire outside the envelope itself: query keys, headers, content types,
 * reserved event ids and the close codes' reasons. Client, server and adapters import these
 * instead of spelling them; PROTOCOL.md documents each.
 */

/** Query parameters (Sente's names). */
export const Query = /* @__PURE__ */ Object.freeze({
  /** The client instance (one tab); 1–128 characters. Sent on every request. */
  CLIENT_ID: 'client-id',
  /** The CSRF token on WebSocket upgrades (browsers cannot set headers there). */
  CSRF_TOKEN: 'csrf-token',
  /** Ajax GET: ask for a handshake instead of a poll (Sente's `handshake?`). */
  HANDSHAKE: 'handshake?',
  /** Accepted as a synonym of `handshake?` by the server. */
  HANDSHAKE_ALT: 'handshake',
  /** Cache-buster on Ajax requests. */
  UDT: 'udt',
  /** Ajax POST form field holding the packed envelope (Sente's `:ppstr`), with `senteFormat` packers. */
  PPSTR: 'ppstr',
  /** Ajax POST query flag of a binary packer's raw body (Sente's `binary?=true`). */
  BINARY: 'binary?',
  /**
   * Ajax poll: the log position of the last event received (PROTOCOL.md "Ajax positions"), so any
   * node of a cluster answers from the broker's log. Provisional (issue 12), until issue 13's recovery.
   */
  POSITION: 'chsk-pos',
} as const);

/** Request headers the server reads, lower-case (Node's spelling), and the client's spelling. */
export const Header = /* @__PURE__ */ Object.freeze({
  CSRF_TOKEN: 'x-csrf-token',
  XSRF_TOKEN: 'x-xsrf-token',
  /** How the client spells the CSRF header it sends. */
  CSRF_TOKEN_OUT: 'X-CSRF-Token',
} as const);

/** Content types of Ajax bodies and of refused-request responses. */
export const ContentType = /* @__PURE__ */ Object.freeze({
  /** Server responses packed by a text packer. */
  JSON: 'application/json; charset=utf-8',
  /** Client POST bodies packed by a text packer (a "simple" content type: no CORS preflight). */
  TEXT_POST: 'text/plain;charset=UTF-8',
  /** Client POST bodies in Sente's form (`udt`, `client-id`, `ppstr`), as Sente's client sends them. */
  FORM_POST: 'application/x-www-form-urlencoded;charset=UTF-8',
  /** Bodies of a binary packer, both ways. */
  BINARY: 'application/octet-stream',
  /** Refusals and errors. */
  PLAIN: 'text/plain; charset=utf-8',
} as const);

/**
 * The content type of a packed body for a packer. Server answers of Sente's text formats
 * (`senteFormat`: EDN, Transit) are `text/plain` (Sente sends http-kit's default `text/html`,
 * which no client reads; sente-rx does not label user data as HTML).
 */
export const packedContentType = (binary: boolean, side: 'server' | 'client', senteFormat = false): string =>
  binary ? ContentType.BINARY : side === 'client' ? ContentType.TEXT_POST : senteFormat ? ContentType.PLAIN : ContentType.JSON;

/** Reserved event ids (the `chsk/` namespace) that have a meaning. */
export const ReservedId = /* @__PURE__ */ Object.freeze({
  HANDSHAKE: 'chsk/handshake',
  STATE: 'chsk/state',
  RECV: 'chsk/recv',
  WS_PING: 'chsk/ws-ping',
  WS_PONG: 'chsk/ws-pong',
  BAD_EVENT: 'chsk/bad-event',
  /** Server `send(uid, ['chsk/close'])`: close every channel of that uid. */
  CLOSE: 'chsk/close',
  UIDPORT_OPEN: 'chsk/uidport-open',
  UIDPORT_CLOSE: 'chsk/uidport-close',
  /** A server→client request inside a push batch: `["chsk/req", [reqId, event]]` (PROTOCOL.md §7). */
  REQUEST: 'chsk/req',
  /** A client's answer to a server request: `["chsk/reply", [reqId, value]]` or `[reqId, null, "chsk/error", issues?]`. */
  REPLY: 'chsk/reply',
  /** A push entry carrying a refused client request's validation issues, just before its `chsk/error` reply. */
  ISSUES: 'chsk/issues',
  /** Reply value: the server could not handle or pack the request (see `REPLY_ERROR_VALUES`). */
  ERROR: 'chsk/error',
  /** Reply value: the connection (or the server) closed before the reply. */
  CLOSED: 'chsk/closed',
  /** Ajax with a log broker: the last entry of a poll answer, `["chsk/pos", position]` (PROTOCOL.md "Ajax positions"). */
  POSITION: 'chsk/pos',
} as const);

/** Reasons sent with protocol close codes. */
export const CloseReason = /* @__PURE__ */ Object.freeze({
  SERVER_ERROR: 'chsk/server-error',
  SERVER_CLOSING: 'server closing',
  REPLACED: 'replaced by a newer connection',
  CLOSE_UID: 'chsk/close',
} as const);

/** Largest client id accepted. */
export const CLIENT_ID_MAX_LENGTH = 128;

/** A client id the server accepts: 1–128 characters. */
export const isValidClientId = (x: string | null | undefined): x is string =>
  typeof x === 'string' && x.length > 0 && x.length <= CLIENT_ID_MAX_LENGTH;

/**
 * Which reserved ids a side may send. The server may push only `chsk/close` (handled by the
 * server itself, never put on the wire); a client may send none. One rule, used everywhere.
 */
export function reservedSendAllowed(side: 'server' | 'client', id: string): boolean {
  if (!id.startsWith('chsk/')) return true;
  return side === 'server' && id === ReservedId.CLOSE;
}
