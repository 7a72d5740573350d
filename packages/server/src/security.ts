/**
 * The rejection pipeline's pure parts (Sente §4.9): CSRF token lookup and constant-time compare,
 * origin checks. The pipeline itself runs in pipeline.ts, in Sente's order:
 * `reject` → CSRF → origin → `authorized`.
 */
import { Header, Query, SKIP_CSRF_CHECK } from '@sente-rx/core';
import type { RequestView } from './types.js';

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
