/**
 * The built-in transport factory: WebSocket and Ajax long-polling over the options' URL. The Ajax
 * transport is passed in (the full entry does; `@sente-rx/client/ws` does not, so its bundle has
 * none) rather than imported here.
 */
import { Header, Query, type RequestedType } from '@sente-rx/core';
import type { SchedulerLike } from 'rxjs';
import type { ClientOptions, FetchLike, TransportFactory, WebSocketConstructor } from '../types.js';
import { channelUrl, withQuery } from '../url.js';
import type { ajaxTransport } from './ajax.js';
import { webSocketTransport } from './websocket.js';

/** What builds the Ajax transport: `ajaxTransport`, or nothing (WebSocket only). */
export type AjaxMaker = typeof ajaxTransport;

/** Checks the options for `requested` (throws TypeError when WebSocket or fetch is missing) and returns the factory. */
export function builtInTransports(path: string, requested: RequestedType, opts: ClientOptions, makeAjax?: AjaxMaker): { factory: TransportFactory; wsAvailable: boolean } {
  const WebSocket = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  const fetchFn: FetchLike | undefined = f === undefined ? undefined : (opts.fetch ?? ((input, init) => f(input, init)));
  let wsBase: string | undefined;
  let ajaxBase: string | undefined;
  /** Where a refused WebSocket asks why (the Ajax endpoint answers 401/403 as the upgrade did). */
  let probeBase: string | undefined;
  if (requested !== 'ajax') {
    if (WebSocket === undefined && requested === 'ws') {
      throw new TypeError("no WebSocket constructor: pass options.WebSocket (on Node 20: import WebSocket from 'ws')");
    }
    wsBase = channelUrl(path, opts, 'ws');
    probeBase = channelUrl(path, opts, 'ajax');
  }
  if (requested !== 'ws') {
    if (fetchFn === undefined) throw new TypeError('no fetch: pass options.fetch');
    ajaxBase = channelUrl(path, opts, 'ajax');
  }
  // The platform's WebSocket (a browser's) hides an upgrade's status; an injected one (`ws`) says it.
  const probe = opts.wsRefusalProbe ?? opts.WebSocket === undefined;
  const factory: TransportFactory = (ctx) => {
    const own = (base: string | undefined, q: Record<string, string | undefined>): string => withQuery(base ?? '', opts.params, { [Query.CLIENT_ID]: ctx.clientId, ...q });
    /** The user's headers and the CSRF token, re-read for every request. */
    const headers = (): Record<string, string> => {
      const t = ctx.csrfToken();
      return { ...opts.headers, ...(t === undefined ? {} : { [Header.CSRF_TOKEN_OUT]: t }) };
    };
    if (ctx.type === 'ajax' && fetchFn !== undefined && makeAjax !== undefined) {
      return makeAjax({
        ...ctx,
        url: (q) => own(ajaxBase, { ...q, [Query.POS]: ctx.position() }),
        fetch: fetchFn,
        headers,
        timeoutMs: opts.ajaxTimeoutMs ?? 60_000, // 60 s, above the server's lpTimeoutMs
      });
    }
    if (WebSocket === undefined) throw new TypeError('no WebSocket constructor');
    return webSocketTransport({
      ...ctx,
      url: () => own(wsBase, { [Query.CSRF_TOKEN]: ctx.csrfToken(), [Query.POS]: ctx.position() }),
      WebSocket,
      connectTimeoutMs: opts.wsConnectTimeoutMs ?? 10_000, // 10 s
      ...(fetchFn === undefined || probeBase === undefined || !probe ? {} : { probeRefusal: () => probeRefusal(fetchFn, own(probeBase, {}), headers(), ctx.scheduler) }),
    });
  };
  return { factory, wsAvailable: WebSocket !== undefined };
}

const PROBE_TIMEOUT_MS = 5_000; // 5 s

/**
 * A browser cannot see why an upgrade failed. The server runs the same checks (CSRF token,
 * origin, `authorized`) on an Ajax POST before it reads the body, so an empty POST answers 401 or
 * 403 exactly when the upgrade was refused for that reason, and 400 otherwise, with no effect on
 * the server (no handshake, no presence). No answer: undefined (a down server, not a refusal).
 */
async function probeRefusal(fetchFn: FetchLike, url: string, headers: Record<string, string>, scheduler: SchedulerLike): Promise<number | undefined> {
  const ac = new AbortController();
  const timer = scheduler.schedule(() => ac.abort(), PROBE_TIMEOUT_MS);
  try {
    const res = await fetchFn(url, { method: 'POST', headers: { ...headers, 'Content-Type': 'text/plain;charset=UTF-8' }, body: '', signal: ac.signal, cache: 'no-store', credentials: 'same-origin' });
    void res.body?.cancel().catch(() => undefined);
    return res.status === 401 || res.status === 403 ? res.status : undefined;
  } catch {
    return undefined;
  } finally {
    timer.unsubscribe();
  }
}

