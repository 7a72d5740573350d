/**
 * The rejection pipeline's pure parts (Sente §4.9): CSRF token lookup and constant-time compare,
 * origin checks. The pipeline itself runs in pipeline.ts, in Sente's order:
 * `reject` → CSRF → origin → `authorized`.
 */
import { Header, Query, SKIP_CSRF_CHECK } from '@sente-rx/core';
import type { Rejection, RequestView } from './types.js';

/** Compares in time that depends only on the lengths, not on where the strings differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

/** The token the client sent: the `csrf-token` query parameter, else `X-CSRF-Token`, else `X-XSRF-Token`. */
export function clientCsrfToken(view: RequestView): string | undefined {
  const t = view.query.get(Query.CSRF_TOKEN) ?? view.header(Header.CSRF_TOKEN) ?? view.header(Header.XSRF_TOKEN);
  return t === null || t === undefined || t === '' ? undefined : t;
}

/** Sente's `valid-csrf-token?`: a missing reference token or a missing client token fails. */
export function validCsrfToken(reference: string | typeof SKIP_CSRF_CHECK | null | undefined, view: RequestView): boolean {
  if (reference === SKIP_CSRF_CHECK) return true;
  if (typeof reference !== 'string' || reference === '') return false;
  const sent = clientCsrfToken(view);
  return sent !== undefined && constantTimeEqual(sent, reference);
}

export type AllowedOrigins = 'all' | 'same-origin' | readonly string[];

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/**
 * Sente's `allow-origin?`, plus our default `'same-origin'`: the `Origin` header's host must equal
 * the request's `Host`. With neither `Origin` nor `Referer` (a non-browser client; browsers send
 * `Origin` on every WebSocket handshake and cross-origin request) `'same-origin'` allows the
 * request, while an explicit list rejects it, as Sente does. A `Referer` must start with an
 * allowed origin followed by `/`, so `http://site.com.evil.com/` does not pass for `http://site.com`.
 */
export function allowOrigin(allowed: AllowedOrigins, view: RequestView): boolean {
  if (allowed === 'all') return true;
  const origin = view.header('origin');
  const referer = view.header('referer');
  if (allowed === 'same-origin') {
    const host = view.header('host');
    if (origin !== undefined && origin !== 'null') return host !== undefined && hostOf(origin) === host;
    if (origin === 'null') return false;
    if (referer !== undefined) return host !== undefined && hostOf(referer) === host;
    return true;
  }
  if (origin !== undefined) return allowed.includes(origin);
  if (referer !== undefined) return allowed.some((o) => referer.startsWith(`${o}/`));
  return false;
}

/** RFC 9110 §5.1: a field name is a token. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Printable ASCII, space and tab. Stricter than Node's check (which lets Latin-1 through):
 * obs-text is obsolete (RFC 9110 §5.5), and the raw upgrade response must not depend on how a
 * string is encoded. CR and LF, which would split the response, are never allowed.
 */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Framing the adapter sets itself: an app value would break or smuggle the response. */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive']);

/** What `sanitizeRejection` dropped or replaced, for the log. */
export interface RejectionProblem {
  readonly problem: string;
  readonly header?: string;
}

/**
 * A `reject()` result made safe to write on any transport (issue 9 item 3): every header name is
 * a token and every value printable ASCII (no CR/LF, no characters Node would throw
 * `ERR_INVALID_CHAR` on), framing headers (`Content-Length`, `Transfer-Encoding`, `Connection`,
 * `Upgrade`, `Keep-Alive`) are the adapter's, names are lower-cased (one value per name), and the
 * body is a string. An invalid header is dropped; the refusal keeps its status and body. A status
 * that is not an integer in 300..599 cannot be written as a refusal at all: the result is a 500.
 * `problems` lists what was dropped, for the caller to log.
 */
export function sanitizeRejection(r: unknown): { rejection: Rejection; problems: RejectionProblem[] } {
  const problems: RejectionProblem[] = [];
  const given = (typeof r === 'object' && r !== null ? r : {}) as { status?: unknown; body?: unknown; headers?: unknown };
  const status = given.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 300 || status > 599) {
    problems.push({ problem: `status ${typeof status === 'number' ? status : typeof status} is not an integer in 300..599; answered 500 instead` });
    return { rejection: { status: 500, body: 'Internal server error' }, problems };
  }
  let body: string | undefined;
  if (typeof given.body === 'string') body = given.body;
  else if (given.body !== undefined && given.body !== null) problems.push({ problem: 'body is not a string; the default body was sent' });
  const headers: Record<string, string> = {};
  if (typeof given.headers === 'object' && given.headers !== null) {
    for (const [name, value] of Object.entries(given.headers)) {
      const v = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
      if (!HEADER_NAME.test(name)) problems.push({ problem: 'invalid header name; header dropped', header: JSON.stringify(name).slice(0, 80) });
      else if (FRAMING_HEADERS.has(name.toLowerCase())) problems.push({ problem: 'framing header; dropped (the adapter sets it)', header: name });
      else if (typeof v !== 'string' || !HEADER_VALUE.test(v)) problems.push({ problem: 'invalid header value (only printable ASCII, no CR/LF); header dropped', header: name });
      else headers[name.toLowerCase()] = v;
    }
  } else if (given.headers !== undefined && given.headers !== null) {
    problems.push({ problem: 'headers is not an object; dropped' });
  }
  return { rejection: { status, ...(body === undefined ? {} : { body }), ...(Object.keys(headers).length === 0 ? {} : { headers }) }, problems };
}
