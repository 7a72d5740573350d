import { AJAX_CB_ID, type ChskEvent, DUMMY_CB_200, envelope, type Logger, type Packed, parseEnvelope, parseServerMessage } from '@sente-rx/core';
import type { FetchLike, Transport, TransportHost } from '../types.js';

export interface AjaxTransportConfig {
  readonly url: (query: Record<string, string | undefined>) => string;
  readonly fetch: FetchLike;
  readonly headers: () => Record<string, string>;
  readonly timeoutMs: number;
  readonly now: () => number;
  readonly logger: Logger;
}

class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/**
 * Long-polling (Sente §4.4): a GET held by the server until it has events for us or `lpTimeoutMs`
 * passes, re-issued at once after every answer; sends are POSTs whose response is the reply.
 * To the client core it looks like a WebSocket: it reports messages and a lost connection.
 */
export class AjaxTransport implements Transport {
  readonly type = 'ajax' as const;
  #stopped = false;
  #poll: AbortController | null = null;
  #handshaken = false;
  readonly #posts = new Set<AbortController>();

  constructor(
    private readonly host: TransportHost,
    private readonly cfg: AjaxTransportConfig,
  ) {}

  connect(): void {
    void this.#loop();
  }

  async #request(url: string, init: RequestInit, track: (ac: AbortController | null) => void): Promise<Packed> {
    const ac = new AbortController();
    track(ac);
    const timer = setTimeout(() => ac.abort(new DOMException('timeout', 'TimeoutError')), this.cfg.timeoutMs);
    try {
      const res = await this.cfg.fetch(url, { ...init, signal: ac.signal, cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) {
        void res.body?.cancel().catch(() => undefined);
        throw new HttpStatusError(res.status);
      }
      return this.host.packer.binary ? new Uint8Array(await res.arrayBuffer()) : await res.text();
    } finally {
      clearTimeout(timer);
      track(null);
    }
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      let body: Packed;
      try {
        body = await this.#request(
          this.cfg.url({ udt: String(this.cfg.now()), 'handshake?': this.host.open && this.#handshaken ? undefined : '1' }),
          { method: 'GET', headers: this.cfg.headers() },
          (ac) => (this.#poll = ac),
        );
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof DOMException && err.name === 'TimeoutError') continue; // Sente: a poll timeout re-polls at once
        this.#fail(err);
        return;
      }
      if (this.#stopped) return;
      let value: unknown;
      try {
        value = this.host.packer.unpack(body);
      } catch (err) {
        this.cfg.logger.warn('sente-rx: an Ajax poll answer does not unpack', { err });
        this.#fail(err);
        return;
      }
      const msg = parseServerMessage(value);
      if (!msg.ok) {
        this.cfg.logger.warn('sente-rx: ignored a malformed Ajax poll answer', { reason: msg.reason });
        continue;
      }
      if (msg.value.kind === 'handshake') this.#handshaken = true;
      else if (this.#handshaken) this.host.ajaxAlive();
      if (msg.value.kind !== 'lp-timeout') this.host.received(msg.value);
    }
  }

  #fail(err: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const ac of this.#posts) ac.abort();
    const error = err instanceof HttpStatusError ? err.message : err instanceof Error ? err.message : String(err);
    this.host.lost({ everOpened: this.#handshaken, error, ...(err instanceof HttpStatusError ? { code: err.status } : {}) });
  }

  send(event: ChskEvent, cbId: string | null): boolean {
    if (this.#stopped) return false;
    let packed: Packed;
    try {
      packed = this.host.packer.pack(envelope(event, cbId === null ? null : AJAX_CB_ID));
    } catch (err) {
      this.cfg.logger.warn('sente-rx: an event could not be packed', { err });
      return false;
    }
    const headers = { ...this.cfg.headers(), 'Content-Type': this.host.packer.binary ? 'application/octet-stream' : 'text/plain;charset=UTF-8' };
    let mine: AbortController | null = null;
    this.#request(this.cfg.url({ udt: String(this.cfg.now()) }), { method: 'POST', headers, body: packed as BodyInit }, (ac) => {
      if (ac !== null) this.#posts.add((mine = ac));
      else if (mine !== null) this.#posts.delete(mine);
    }).then(
      (body) => {
        let value: unknown;
        try {
          const env = parseEnvelope(this.host.packer.unpack(body));
          if (!env.ok) throw new Error(env.reason);
          value = env.value[0];
        } catch (err) {
          this.cfg.logger.warn('sente-rx: an Ajax POST answer is malformed', { err });
          if (cbId !== null) this.host.reply(cbId, 'chsk/error');
          return;
        }
        if (!this.#stopped && this.#handshaken) this.host.ajaxAlive();
        if (cbId !== null) this.host.reply(cbId, value);
        else if (value !== DUMMY_CB_200) this.cfg.logger.debug('sente-rx: an Ajax POST without a callback got an answer', { value });
      },
      (err: unknown) => {
        if (this.#stopped) return;
        if (err instanceof DOMException && err.name === 'TimeoutError') {
          if (cbId !== null) this.host.reply(cbId, 'chsk/timeout');
          return;
        }
        this.cfg.logger.warn('sente-rx: an Ajax POST failed', { err: err instanceof Error ? err.message : String(err) });
        if (!(err instanceof HttpStatusError)) {
          // A network failure: the channel is gone, and its pending requests fail chsk/closed.
          this.#fail(err);
          return;
        }
        if (cbId !== null) this.host.reply(cbId, 'chsk/error');
        // A refused request (4xx) is an answer; a 5xx means the server is in trouble: reconnect.
        if (err.status >= 500) this.#fail(err);
      },
    );
    return true;
  }

  stop(): void {
    this.#stopped = true;
    this.#poll?.abort();
    for (const ac of this.#posts) ac.abort();
  }

  break(): void {
    this.#fail(new Error('connection broken on request'));
    this.#poll?.abort();
  }
}
