/**
 * The rejection pipeline (Sente §4.9), in Sente's order: `reject` → CSRF → origin → `authorized`,
 * then the client-id check. The core's entry points run it; no adapter can skip it.
 */
import { isFormContentType, isValidClientId, type Logger, Query } from '@sente-rx/core';
import { allowOrigin, sanitizeRejection, validCsrfToken } from './security.js';
import type { Rejection, RequestView, ResolvedOptions } from './types.js';

const clientIdOf = (view: RequestView): string | undefined => view.query.get(Query.CLIENT_ID)?.slice(0, 128);
/** The URL without its query (which may hold a CSRF token). */
const pathOf = (view: RequestView): string | undefined => view.url.split('?')[0];

/** `null` means the request may go on; anything else is the HTTP response to refuse it with. */
export function runPipeline<TReq>(o: ResolvedOptions<TReq>, logger: Logger, view: RequestView, req: TReq): Rejection | null {
  try {
    const custom = o.reject?.(req);
    if (custom !== null && custom !== undefined) {
      // Never written raw: a CRLF would split the response, a bad character throw out of Node's writeHead.
      const { rejection, problems } = sanitizeRejection(custom);
      for (const p of problems) logger.error(`sente-rx: reject() returned an unusable refusal: ${p.problem}`, { header: p.header, clientId: clientIdOf(view), url: pathOf(view) });
      return rejection;
    }
    const ref = o.csrfToken === undefined ? undefined : o.csrfToken(req);
    if (!validCsrfToken(ref, view)) return { status: 403, body: 'Bad CSRF token' };
    if (!allowOrigin(o.allowedOrigins, view)) return { status: 403, body: 'Unauthorized origin' };
    if (o.authorized !== undefined && !o.authorized(req)) return { status: 401, body: 'Unauthorized request' };
  } catch (err) {
    logger.error('sente-rx: a request check (reject/csrfToken/authorized) threw; answered 500', { err, clientId: clientIdOf(view), url: pathOf(view) });
    return { status: 500, body: 'Internal server error' };
  }
  // Sente's form POST carries client-id in its body: checked once the body is read (server.ts).
  if (isFormPost(view)) return null;
  if (!isValidClientId(view.query.get(Query.CLIENT_ID))) {
    logger.warn('sente-rx: request without a valid client-id query parameter', { url: pathOf(view) });
    return { status: 400, body: 'Missing or invalid client-id query parameter' };
  }
  return null;
}

/** A POST in Sente's form (`udt`, `client-id`, `ppstr`): its client-id may be in the body. */
export const isFormPost = (view: RequestView): boolean => view.method === 'POST' && isFormContentType(view.header('content-type'));
