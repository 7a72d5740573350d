/**
 * The example app's own events, shared by the server (src/server.ts) and the page
 * (src/browser/main.ts) so both sides agree on ids and payloads. One object payload per event.
 */

/** Client → server events (the page sends these). */
export interface ClientEvents {
  /** Fire and forget: the server only logs it. */
  'example/hello': { readonly from: string; readonly at: number };
  /** Request/reply: the server echoes the data back with the uid it sees. */
  'example/echo': { readonly text: string; readonly at: number };
  /** Request/reply: the server pushes `BROADCAST_COUNT` `example/broadcast` events to every connected user. */
  'example/test-broadcast': Record<string, never>;
  /** Request/reply: turns the server's broadcast loop on or off. */
  'example/toggle-loop': Record<string, never>;
  /** Request/reply: the connected uids, per transport. */
  'example/connected-uids': Record<string, never>;
  /** Request/reply: the server pushes `example/push` to every client of user `to`. */
  'example/push': { readonly to: string; readonly text: string };
  /**
   * Fire and forget: the server breaks this client's connection without a goodbye.
   * `kill` destroys the TCP socket (no WebSocket close frame); `silence` keeps the socket open but
   * stops reading and writing it, which only the client's ping timeout can detect.
   */
  'example/break': { readonly mode: BreakMode };
}

export type BreakMode = 'kill' | 'silence';

/** Server → client pushes. */
export interface ServerEvents {
  'example/broadcast': { readonly run: number; readonly i: number; readonly of: number };
  'example/broadcast-loop': { readonly n: number; readonly at: number };
  'example/loop-state': { readonly on: boolean };
  'example/push': { readonly from: string; readonly text: string };
}

/** Replies, by request id. */
export interface Replies {
  'example/echo': { readonly echoed: ClientEvents['example/echo']; readonly uid: string; readonly transport: string };
  'example/test-broadcast': { readonly run: number; readonly count: number; readonly uids: readonly string[] };
  'example/toggle-loop': { readonly on: boolean };
  'example/connected-uids': { readonly any: readonly string[]; readonly ws: readonly string[]; readonly ajax: readonly string[] };
  'example/push': { readonly to: string; readonly online: boolean } | { readonly error: string };
}

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
