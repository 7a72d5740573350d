/**
 * Constants and plain types shared by the server (src/server.ts) and the page
 * (src/browser/main.ts). The events themselves, with their schemas, are in contract.ts.
 */

/**
 * How the server breaks a client's connection on `example/break`: `kill` destroys the TCP socket
 * (no WebSocket close frame); `silence` keeps the socket open but stops reading and writing it,
 * which only the client's ping timeout can detect.
 */
export type BreakMode = 'kill' | 'silence';

/** Sent by the server's handshake to every new connection (the `handshakeData` option). */
export interface ExampleHandshakeData {
  readonly loop: boolean;
  readonly serverStartedAt: number;
}

/** What GET /session and POST /login answer. */
export interface SessionInfo {
  readonly uid: string | null;
  readonly csrfToken: string;
}

export const BROADCAST_COUNT = 100;
export const BROADCAST_LOOP_MS = 5_000; // 5 s

/** A user id the login form accepts: 1-32 letters, digits, `.`, `_`, `-` or `@`. */
export const UID_PATTERN = /^[A-Za-z0-9._@-]{1,32}$/;
