/**
 * The rejection pipeline (Sente §4.9), in Sente's order: `reject` → CSRF → origin → `authorized`,
 * then the client-id check. The core's entry points run it; no adapter can skip it.
 */
import { isFormContentType, isValidClientId, type Logger, Query } from '@sente-rx/core';
import { allowOrigin, validCsrfToken } from './security.js';
import type { Rejection, RequestView, ResolvedOptions } from './types.js';

/** `null` means the request may go on; anything else is the HTTP response to refuse it with. */
export function runPipeline<TReq>(o: ResolvedOptions<TReq>, logger: Logger, view: RequestView, req: TReq): Rejection | null {
  try {
    const custom = o.reject?.(req);
    if (custom !== null && custom !== undefined) return custom;
    const ref = o.csrfToken === undefined ? undefined : o.csrfToken(req);
    if (!validCsrfToken(ref, view)) return { status: 403, body: 'Bad CSRF token' };
    if (!allowOrigin(o.allowedOrigins, view)) return { status: 403, body: 'Unauthorized origin' };
    if (o.authorized !== undefined && !o.authorized(req)) return { status: 401, body: 'Unauthorized request' };
  } catch (err) {
    logger.error('sente-rx: a request check (reject/csrfToken/authorized) threw', { err, url: view.url });
    return { status: 500, body: 'Internal server error' };
  }
  // Sente's form POST carries client-id in its body: checked once the body is read (server.ts).
  if (isFormPost(view)) return null;
  if (!isValidClientId(view.query.get(Query.CLIENT_ID))) {
    logger.warn('sente-rx: request without a valid client-id query parameter', { url: view.url.split('?')[0] });
    return { status: 400, body: 'Missing or invalid client-id query parameter' };
  }
  return null;
}

/** A POST in Sente's form (`udt`, `client-id`, `ppstr`): its client-id may be in the body. */
export const isFormPost = (view: RequestView): boolean => view.method === 'POST' && isFormContentType(view.header('content-type'));
