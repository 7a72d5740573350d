import {
  ajaxEventEnvelope,
  ajaxPostRequest,
  type ChskEvent,
  CloseCode,
  DUMMY_CB_200,
  type Logger,
  type Packed,
  packEnvelope,
  type Packer,
  parseEnvelope,
  parseServerMessage,
  Query,
} from '@sente-rx/core';
import type { SchedulerLike } from 'rxjs';
import { hub } from '../hub.js';
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
  /**
   * `simulateNetworkFailure()` (`breakConnection()`): the same code as a real network failure
   * (1006), so the test aid produces the state a real failure produces.
   */
  BROKEN: 1006,
});

export interface AjaxTransportConfig {
  readonly url: (query: Record<string, string | undefined>) => string;
  readonly fetch: FetchLike;
  readonly headers: () => Record<string, string>;
  readonly timeoutMs: number;
  readonly packer: Packer;
  /** Sent in the form body of a `senteFormat` packer's POSTs (the query has it too). */
  readonly clientId?: string;
  readonly logger: Logger;
  readonly scheduler: SchedulerLike;
  /** Whether the channel is open (handshake done); a poll asks for a handshake when not. */
  readonly isOpen: () => boolean;
  /** Past this many bytes of POST bodies in flight, the connection is closed (`bufferFull`). */
  readonly maxBufferedBytes: number;
}

class HttpStatusError extends Error {
  declare readonly status: number; // no class field: an ES2020 bundle would carry a helper for it
  constructor(status: number) {
    super(`HTTP ${status}`);
    this.status = status;
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
  const events = hub<TransportEvent>();
  const emit = (ev: TransportEvent): void => events.next(ev);
  let stopped = false;
  let poll: AbortController | null = null;
  let handshaken = false;
  const posts = new Set<AbortController>();
  /** Bytes (characters, for text) of the POST bodies not answered yet. */
  let inFlight = 0;

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
  const fail = (err: unknown, code?: number, extra: { bufferFull?: true } = {}): void => {
    if (stopped) return;
    stopped = true;
    for (const ac of posts) ac.abort();
    const reason = err instanceof Error ? err.message : String(err);
    const status = err instanceof HttpStatusError ? err.status : 0;
    code ??= status >= 500 ? AjaxCloseCode.SERVER_ERROR : status >= 400 ? AjaxCloseCode.REFUSED : AjaxCloseCode.NETWORK;
    emit({ kind: 'closed', code, reason, clean: false, ...(status === 0 ? {} : { status }), ...extra });
  };

  const reply = (cbId: string | null, value: unknown): void => {
    if (cbId !== null) emit({ kind: 'reply', cbId, value });
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      let body: Packed;
      try {
        body = await request(
          cfg.url({ [Query.UDT]: String(scheduler.now()), [Query.HANDSHAKE]: cfg.isOpen() && handshaken ? undefined : '1' }),
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
      const msg = parseServerMessage(value);
      if (!msg.ok) {
        logger.warn('sente-rx: ignored a malformed Ajax poll answer', { reason: msg.reason });
        continue;
      }
      if (msg.value.kind === 'handshake') handshaken = true;
      emit({ kind: 'open' });
      if (msg.value.kind !== 'lp-timeout') emit({ kind: 'message', message: msg.value });
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
      const packed = packEnvelope(packer, ajaxEventEnvelope(event, cbId !== null)); // throws when it cannot be packed
      // Sente's form (udt, client-id, ppstr) with EDN/Transit, else the raw body (PROTOCOL.md §4).
      const udt = String(scheduler.now());
      const post = ajaxPostRequest(packer, packed, cfg.clientId ?? '', udt);
      const headers = { ...cfg.headers(), 'Content-Type': post.contentType };
      const size = packed.length;
      if (inFlight + size > cfg.maxBufferedBytes) {
        logger.warn('sente-rx: closing an Ajax channel whose server does not keep up (POST bodies in flight over maxBufferedBytes)', { inFlight, maxBufferedBytes: cfg.maxBufferedBytes });
        fail(new Error('send buffer full'), AjaxCloseCode.NETWORK, { bufferFull: true });
        poll?.abort();
        return true; // the closed event has failed it (chsk/closed)
      }
      inFlight += size;
      let mine: AbortController | null = null;
      let settled = false;
      const done = (): void => {
        if (!settled) inFlight -= size;
        settled = true;
      };
      request(cfg.url({ [Query.UDT]: udt, ...post.query }), { method: 'POST', headers, body: post.body as BodyInit }, (ac) => {
        if (ac !== null) posts.add((mine = ac));
        else if (mine !== null) posts.delete(mine);
      }).then(
        (body) => {
          done();
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
          done();
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
      fail(new Error('connection broken on request'), AjaxCloseCode.NETWORK);
      poll?.abort();
    },
  };
}
