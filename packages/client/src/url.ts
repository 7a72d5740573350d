import type { ClientOptions } from './types.js';

interface Loc {
  protocol: string;
  host: string;
  hostname: string;
  pathname: string;
}

function pageLocation(): Loc | undefined {
  const loc = (globalThis as { location?: Loc }).location;
  return loc !== undefined && typeof loc.host === 'string' && loc.host !== '' ? loc : undefined;
}

/** The channel's base URL for one transport, without the query string. */
export function channelUrl(path: string, opts: ClientOptions, kind: 'ws' | 'ajax'): string {
  const loc = pageLocation();
  const rawProto = opts.protocol ?? loc?.protocol ?? 'http:';
  const proto = rawProto.endsWith(':') ? rawProto : `${rawProto}:`;
  if (proto !== 'http:' && proto !== 'https:') throw new TypeError(`protocol must be http: or https:, got ${rawProto}`);
  let host: string;
  if (opts.host !== undefined) host = opts.port !== undefined ? `${opts.host}:${opts.port}` : opts.host;
  else if (loc !== undefined) host = opts.port !== undefined ? `${loc.hostname}:${opts.port}` : loc.host;
  else throw new TypeError('host is required outside a browser page');
  const p = path === '' ? (loc?.pathname ?? '/') : path.startsWith('/') ? path : `/${path}`;
  const scheme = kind === 'ws' ? (proto === 'https:' ? 'wss:' : 'ws:') : proto;
  return `${scheme}//${host}${p}`;
}

/** Appends query parameters; the library's own keys win over the user's `params`. */
export function withQuery(base: string, userParams: ClientOptions['params'], own: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(userParams ?? {})) if (!(k in own)) q.set(k, String(v));
  for (const [k, v] of Object.entries(own)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s === '' ? base : `${base}?${s}`;
}
