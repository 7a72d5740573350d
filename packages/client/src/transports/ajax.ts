import {
  AJAX_CB_ID,
  type ChskEvent,
  CloseCode,
  DUMMY_CB_200,
  envelope,
  type Logger,
  type Packed,
  packedContentType,
  type Packer,
  parseEnvelope,
  parseServerMessage,
  Query,
  ReservedId,
} from '@sente-rx/core';
import { type SchedulerLike, Subject } from 'rxjs';
import type { FetchLike, Transport, TransportEvent } from '../types.js';

/**
 * How the Ajax transport reports the end of its connection, as WebSocket close codes (as
 * Phoenix's LongPoll does), so the client treats both transports alike. The `reason` says what
 * happened (`HTTP 403`, the fetch error's message). Long-polling has no closing handshake:
 * `clean` is always false.
 */
export const AjaxCloseCode = Object.freeze({
  /** No answer: the fetch failed (network down, server gone). */
  NETWORK: 1006,
  /** A poll answer that does not unpack. */
  BAD_ANSWER: CloseCode.BAD_FRAME,
  /** HTTP 4xx on a poll (400, 403 bad CSRF token, 404, 410, …): refused. */
  REFUSED: 1008,
  /** HTTP 5xx on a poll or a POST. */
  SERVER_ERROR: CloseCode.INTERNAL_ERROR,
  /** `simulateNetworkFailure()` (`breakConnection()`). */
  BROKEN: CloseCode.CLIENT_ABNORMAL,
});

export interface AjaxTransportConfig {
  readonly url: (query: Record<string, string | undefined>) => string;
  readonly fetch: FetchLike;
  readonly headers: () => Record<string, string>;
  readonly timeoutMs: number;
  readonly packer: Packer;
  readonly logger: Logger;
  readonly scheduler: SchedulerLike;
  /** Whether the channel is open (handshake done); a poll asks for a handshake when not. */
  readonly isOpen: () => boolean;
}

class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

const isTimeout = (err: unknown): boolean => err instanceof DOMException && err.name === 'TimeoutError';

/**
 * Long-polling (Sente §4.4): a GET held by the server until it has events for us or `lpTimeoutMs`
 * passes, re-issued at once after every answer; sends are POSTs whose response is the reply.
 * To the client core it looks like a WebSocket: the same events, close codes included.
 */
export function ajaxTransport(cfg: AjaxTransportConfig): Transport {
  const { logger, packer, scheduler } = cfg;
  const events = new Subject<TransportEvent>();
  const emit = (ev: TransportEvent): void => events.next(ev);
  let stopped = false;
  let poll: AbortController | null = null;
  let handshaken = false;
  /** Ajax positions (PROTOCOL.md): where this client stands in the server's log, when the server keeps one. */
  let position: string | undefined;
  const posts = new Set<AbortController>();

  const request = async (url: string, init: RequestInit, track: (ac: AbortController | null) => void): Promise<Packed> => {
    const ac = new AbortController();
    track(ac);
    const timer = scheduler.schedule(() => ac.abort(new DOMException('timeout', 'TimeoutError')), cfg.timeoutMs);
    try {
      const res = await cfg.fetch(url, { ...init, signal: ac.signal, cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) {
        void res.body?.cancel().catch(() => undefined);
        throw new HttpStatusError(res.status);
      }
      return packer.binary ? new Uint8Array(await res.arrayBuffer()) : await res.text();
    } finally {
      timer.unsubscribe();
      track(null);
    }
  };

  /** The end of the connection, with the close code for what happened (`AjaxCloseCode`). */
  const fail = (err: unknown, code?: number): void => {
    if (stopped) return;
    stopped = true;
    for (const ac of posts) ac.abort();
    const reason = err instanceof Error ? err.message : String(err);
    const status = err instanceof HttpStatusError ? err.status : 0;
    code ??= status >= 500 ? AjaxCloseCode.SERVER_ERROR : status >= 400 ? AjaxCloseCode.REFUSED : AjaxCloseCode.NETWORK;
    emit({ kind: 'closed', code, reason, clean: false });
  };

  const reply = (cbId: string | null, value: unknown): void => {
    if (cbId !== null) emit({ kind: 'reply', cbId, value });
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      let body: Packed;
      try {
        body = await request(
          cfg.isOpen() && handshaken
            ? cfg.url({ [Query.UDT]: String(scheduler.now()), [Query.POSITION]: position })
            : cfg.url({ [Query.UDT]: String(scheduler.now()), [Query.HANDSHAKE]: '1' }),
          { method: 'GET', headers: cfg.headers() },
          (ac) => (poll = ac),
        );
      } catch (err) {
        if (stopped) return;
        if (isTimeout(err)) continue; // Sente: a poll timeout re-polls at once
        fail(err);
        return;
      }
      if (stopped) return;
      let value: unknown;
      try {
        value = packer.unpack(body);
      } catch (err) {
        logger.warn('sente-rx: an Ajax poll answer does not unpack', { err });
        fail(err, AjaxCloseCode.BAD_ANSWER);
        return;
      }
      const parsed = parseServerMessage(value);
      if (!parsed.ok) {
        logger.warn('sente-rx: ignored a malformed Ajax poll answer', { reason: parsed.reason });
        continue;
      }
      let msg = parsed.value;
      if (msg.kind === 'handshake') {
        handshaken = true;
        position = handshakePosition(value);
      } else if (msg.kind === 'batch') {
        // The log position travels as the batch's last entry; it is the transport's, not the app's.
        const events = msg.events.filter((e) => e[0] !== ReservedId.POSITION);
        if (events.length !== msg.events.length) {
          for (const e of msg.events) if (e[0] === ReservedId.POSITION && typeof e[1] === 'string') position = e[1];
          msg = { kind: 'batch', events };
        }
      }
      emit({ kind: 'open' });
      if (msg.kind !== 'lp-timeout' && !(msg.kind === 'batch' && msg.events.length === 0)) emit({ kind: 'message', message: msg });
    }
  };

  return {
    type: 'ajax',
    keepAlive: false,
    events: events.asObservable(),
    connect() {
      void loop();
    },
    send(event: ChskEvent, cbId: string | null): boolean {
      if (stopped) return false;
      const packed = packer.pack(envelope(event, cbId === null ? null : AJAX_CB_ID)); // throws when it cannot be packed
      const headers = { ...cfg.headers(), 'Content-Type': packedContentType(packer.binary, 'client') };
      let mine: AbortController | null = null;
      request(cfg.url({ [Query.UDT]: String(scheduler.now()) }), { method: 'POST', headers, body: packed as BodyInit }, (ac) => {
        if (ac !== null) posts.add((mine = ac));
        else if (mine !== null) posts.delete(mine);
      }).then(
        (body) => {
          let value: unknown;
          try {
            const env = parseEnvelope(packer.unpack(body));
            if (!env.ok) throw new Error(env.reason);
            value = env.value[0];
          } catch (err) {
            logger.warn('sente-rx: an Ajax POST answer is malformed', { err });
            reply(cbId, 'chsk/error');
            return;
          }
          if (!stopped && handshaken) emit({ kind: 'open' });
          if (cbId !== null) reply(cbId, value);
          else if (value !== DUMMY_CB_200) logger.debug('sente-rx: an Ajax POST without a callback got an answer', { value });
        },
        (err: unknown) => {
          if (stopped) return;
          if (isTimeout(err)) {
            reply(cbId, 'chsk/timeout');
            return;
          }
          logger.warn('sente-rx: an Ajax POST failed', { err: err instanceof Error ? err.message : String(err) });
          if (!(err instanceof HttpStatusError)) {
            // A network failure: the channel is gone, and its pending requests fail chsk/closed.
            fail(err);
            return;
          }
          reply(cbId, 'chsk/error');
          // A refused request (4xx) is an answer; a 5xx means the server is in trouble: reconnect.
          if (err.status >= 500) fail(err);
        },
      );
      return true;
    },
    stop() {
      stopped = true;
      poll?.abort();
      for (const ac of posts) ac.abort();
    },
    /** Always the loud kind: a long-poll cannot go silent for longer than one poll. */
    simulateNetworkFailure() {
      fail(new Error('connection broken on request'), AjaxCloseCode.BROKEN);
      poll?.abort();
    },
  };
}

/** The 4th element of a handshake (`[["chsk/handshake", [uid, data, first, position]], null]`), when a string. */
function handshakePosition(value: unknown): string | undefined {
  const hs: unknown = Array.isArray(value) && Array.isArray(value[0]) ? value[0][1] : undefined;
  const p: unknown = Array.isArray(hs) ? hs[3] : undefined;
  return typeof p === 'string' ? p : undefined;
}
