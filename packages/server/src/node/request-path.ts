/**
 * Routing helpers that cannot throw, for the request line a client sends.
 *
 * `new URL(req.url, 'http://x')` looks like the obvious way to route, but `req.url` is whatever the
 * client wrote: `GET http://a:99999/chsk HTTP/1.1` (a legal absolute-form target with an invalid
 * port) makes it throw `ERR_INVALID_URL`, and a throw in a request or upgrade listener takes the
 * whole process down. These helpers read the raw target instead.
 */

/** What these helpers read from a request: Node's `IncomingMessage`, Express's `Request`, … */
export interface RequestTarget {
  readonly url?: string | undefined;
}

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/** Start and end of the path in `url`, or `undefined` when the target has no path to route on. */
function pathBounds(url: string): readonly [start: number, end: number] | undefined {
  let start = 0;
  if (url.charCodeAt(0) !== 0x2f /* '/' */) {
    // RFC 9112 §3.2.2: a server must accept absolute-form (`http://host:port/path`); routing
    // uses its path. Asterisk-form (`*`), authority-form (`host:port`, CONNECT) and anything
    // else have no path.
    const m = ABSOLUTE_FORM.exec(url);
    if (m === null) return undefined;
    start = m[0].length;
  }
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x3f /* '?' */ || c === 0x23 /* '#' */) {
      end = i;
      break;
    }
  }
  return [start, end];
}

/**
 * The path of a request's target, for routing: `'/chsk'` for `/chsk?client-id=…` and for
 * `http://any-host:99999/chsk`. Never throws.
 *
 * - Origin-form and absolute-form targets give their path without the query and fragment; an
 *   absolute-form target without a path gives `'/'`, and so does a missing `url`.
 * - A target with no path (`*`, `host:443`, garbage) gives `''`, which matches no route.
 * - The path is raw: no percent-decoding and no dot-segment removal, so compare it with exact
 *   route paths (`'/chsk/'` and `'/%63hsk'` are not `'/chsk'`). `//host/x` stays a path.
 */
export function requestPath(req: RequestTarget): string {
  const url = req.url;
  if (typeof url !== 'string' || url === '') return '/';
  const bounds = pathBounds(url);
  if (bounds === undefined) return '';
  return bounds[1] > bounds[0] ? url.slice(bounds[0], bounds[1]) : '/';
}

/**
 * The query parameters of a request's target (`uid` in `/chsk?uid=alice`). Never throws: a
 * target without a query, or one `requestPath` finds no path in, gives empty parameters.
 */
export function requestQuery(req: RequestTarget): URLSearchParams {
  const url = req.url;
  if (typeof url !== 'string') return new URLSearchParams();
  const bounds = pathBounds(url);
  if (bounds === undefined || url.charCodeAt(bounds[1]) !== 0x3f /* '?' */) return new URLSearchParams();
  const hash = url.indexOf('#', bounds[1]);
  return new URLSearchParams(url.slice(bounds[1] + 1, hash === -1 ? undefined : hash));
}
