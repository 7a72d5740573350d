/** The built-in transport factory: WebSocket and Ajax long-polling over the options' URL. */
import { Header, Query, type RequestedType } from '@sente-rx/core';
import type { ClientOptions, FetchLike, TransportFactory, WebSocketConstructor } from '../types.js';
import { channelUrl, withQuery } from '../url.js';
import { ajaxTransport } from './ajax.js';
import { webSocketTransport } from './websocket.js';

/** Checks the options for `requested` (throws TypeError when WebSocket or fetch is missing) and returns the factory. */
export function builtInTransports(path: string, requested: RequestedType, opts: ClientOptions): { factory: TransportFactory; wsAvailable: boolean } {
  const WebSocket = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  const fetchFn: FetchLike | undefined = f === undefined ? undefined : (opts.fetch ?? ((input, init) => f(input, init)));
  let wsBase: string | undefined;
  let ajaxBase: string | undefined;
  if (requested !== 'ajax') {
    if (WebSocket === undefined && requested === 'ws') {
      throw new TypeError("no WebSocket constructor: pass options.WebSocket (on Node 20: import WebSocket from 'ws')");
    }
    wsBase = channelUrl(path, opts, 'ws');
  }
  if (requested !== 'ws') {
    if (fetchFn === undefined) throw new TypeError('no fetch: pass options.fetch');
    ajaxBase = channelUrl(path, opts, 'ajax');
  }
  const factory: TransportFactory = (ctx) => {
    const own = (base: string | undefined, q: Record<string, string | undefined>): string => withQuery(base ?? '', opts.params, { [Query.CLIENT_ID]: ctx.clientId, ...q });
    if (ctx.type === 'ajax' && fetchFn !== undefined) {
      return ajaxTransport({
        ...ctx,
        url: (q) => own(ajaxBase, { ...q, [Query.POS]: ctx.position() }),
        fetch: fetchFn,
        headers: () => {
          const token = ctx.csrfToken();
          return { ...opts.headers, ...(token === undefined ? {} : { [Header.CSRF_TOKEN_OUT]: token }) };
        },
        timeoutMs: opts.ajaxTimeoutMs ?? 60_000, // 60 s, above the server's lpTimeoutMs
      });
    }
    if (WebSocket === undefined) throw new TypeError('no WebSocket constructor');
    return webSocketTransport({
      ...ctx,
      url: () => own(wsBase, { [Query.CSRF_TOKEN]: ctx.csrfToken(), [Query.POS]: ctx.position() }),
      WebSocket,
      connectTimeoutMs: opts.wsConnectTimeoutMs ?? 10_000, // 10 s
    });
  };
  return { factory, wsAvailable: WebSocket !== undefined };
}

