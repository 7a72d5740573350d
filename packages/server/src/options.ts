/** The server's options: defaults and validation, in one place. */
import { DEFAULT_MAX_MESSAGE_BYTES, jsonPacker } from '@sente-rx/core';
import type { ResolvedOptions, ServerOptions } from './types.js';

/** Every default, named (PROTOCOL.md and the option docs in types.ts quote these). */
export const DEFAULTS = Object.freeze({
  /** 20 s, under Heroku's 30 s request limit. */
  lpTimeoutMs: 20_000,
  /** Must stay under the client-side Ajax timeout. */
  lpTimeoutMsLimit: 60_000,
  wsKeepAliveMs: 25_000,
  wsPingTimeoutMs: 10_000,
  batching: 'adaptive' as 'adaptive' | 'window',
  sendBufMs: Object.freeze({ ws: 30, ajax: 100 }),
  maxBatchEvents: 1_000,
  reconnectGraceMs: Object.freeze({ ws: 2_500, ajax: 5_000 }),
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  /** 8 MiB */
  maxBufferedBytes: 8 * 1_048_576,
  maxPendingEvents: 1_000,
});

const nonNeg = (name: string, v: number): number => {
  if (!(Number.isFinite(v) && v >= 0)) throw new TypeError(`${name} must be a finite number >= 0, got ${String(v)}`);
  return v;
};

const positive = (name: string, v: number): number => {
  if (!(Number.isFinite(v) && v > 0)) throw new TypeError(`${name} must be a finite number > 0, got ${String(v)}`);
  return v;
};

/** Fills in the defaults; throws a `TypeError` naming the first invalid option. */
export function resolveOptions<TReq>(o: ServerOptions<TReq>): ResolvedOptions<TReq> {
  const lpTimeoutMs = o.lpTimeoutMs ?? DEFAULTS.lpTimeoutMs;
  if (!(lpTimeoutMs > 0 && lpTimeoutMs < DEFAULTS.lpTimeoutMsLimit)) {
    throw new TypeError(`lpTimeoutMs must be > 0 and < ${DEFAULTS.lpTimeoutMsLimit} (the client-side Ajax timeout)`);
  }
  const allowed = o.allowedOrigins ?? 'same-origin';
  if (allowed !== 'all' && allowed !== 'same-origin' && !Array.isArray(allowed)) {
    throw new TypeError("allowedOrigins must be 'all', 'same-origin' or a list of origins");
  }
  const batching = o.batching ?? DEFAULTS.batching;
  if (batching !== 'adaptive' && batching !== 'window') throw new TypeError(`batching must be 'adaptive' or 'window', got ${String(batching)}`);
  return {
    userId: o.userId ?? (() => undefined),
    csrfToken: o.csrfToken,
    handshakeData: o.handshakeData ?? (() => null),
    allowedOrigins: allowed,
    authorized: o.authorized,
    reject: o.reject,
    packer: o.packer ?? jsonPacker,
    wsKeepAliveMs: nonNeg('wsKeepAliveMs', o.wsKeepAliveMs ?? DEFAULTS.wsKeepAliveMs),
    wsPingTimeoutMs: nonNeg('wsPingTimeoutMs', o.wsPingTimeoutMs ?? DEFAULTS.wsPingTimeoutMs),
    lpTimeoutMs,
    sendBufMs: {
      ws: nonNeg('sendBufMs.ws', o.sendBufMs?.ws ?? DEFAULTS.sendBufMs.ws),
      ajax: nonNeg('sendBufMs.ajax', o.sendBufMs?.ajax ?? DEFAULTS.sendBufMs.ajax),
    },
    batching,
    maxBatchEvents: positive('maxBatchEvents', o.maxBatchEvents ?? DEFAULTS.maxBatchEvents),
    reconnectGraceMs: {
      ws: nonNeg('reconnectGraceMs.ws', o.reconnectGraceMs?.ws ?? DEFAULTS.reconnectGraceMs.ws),
      ajax: nonNeg('reconnectGraceMs.ajax', o.reconnectGraceMs?.ajax ?? DEFAULTS.reconnectGraceMs.ajax),
    },
    maxMessageBytes: positive('maxMessageBytes', o.maxMessageBytes ?? DEFAULTS.maxMessageBytes),
    maxBufferedBytes: positive('maxBufferedBytes', o.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes),
    maxPendingEvents: positive('maxPendingEvents', o.maxPendingEvents ?? DEFAULTS.maxPendingEvents),
  };
}
