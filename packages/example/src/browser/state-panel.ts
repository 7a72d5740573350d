/** Renders the client's state map (`state$`) into the Connection card, with a reconnect countdown. */
import { type ChskState, NIL_UID } from '@sente-rx/core';
import { byId, clock, preview } from './dom.js';

export class StatePanel {
  readonly #card = byId('conn');
  readonly #badge = byId('badge');
  readonly #type = byId('st-type');
  readonly #uid = byId('st-uid');
  readonly #close = byId('st-close');
  readonly #next = byId('st-next');
  readonly #ws = byId('st-ws');
  readonly #hs = byId('st-hs');
  readonly #requested: string;
  #nextAt: number | undefined;
  #ticker: ReturnType<typeof setInterval> | undefined;

  constructor(requestedType: string) {
    this.#requested = requestedType;
  }

  render(s: ChskState): void {
    // Not reconnecting by itself after disconnect(), or after a 401/403 (until reconnect()).
    const stopped = s.lastClose?.reason === 'requested-disconnect' || s.lastClose?.reason === 'unauthorized';
    const connecting = !s.open && s.udtNextReconnect === undefined && !stopped;
    this.#card.dataset.open = String(s.open);
    this.#card.dataset.everOpened = String(s.everOpened);
    this.#card.dataset.uid = s.uid ?? '';
    this.#card.dataset.type = s.type;
    this.#card.dataset.closeReason = s.lastClose?.reason ?? '';
    this.#badge.textContent = s.open ? 'open' : s.everOpened ? (connecting ? 'closed, connecting…' : 'closed') : 'connecting…';
    this.#type.textContent = s.type === this.#requested ? s.type : `${s.type} (asked for ${this.#requested})`;
    this.#uid.textContent = s.uid === null ? '—' : s.uid === NIL_UID ? `${NIL_UID} (anonymous)` : s.uid;
    this.#close.textContent = s.lastClose === undefined ? '—' : `${s.lastClose.reason}${s.lastClose.status === undefined ? '' : ` (HTTP ${s.lastClose.status})`} at ${clock(s.lastClose.udt)}`;
    this.#ws.textContent =
      s.lastWsClose === undefined
        ? '—'
        : `code ${s.lastWsClose.code}${s.lastWsClose.reason === '' ? '' : ` "${s.lastWsClose.reason}"`}${s.lastWsClose.clean ? '' : ' (not clean)'} at ${clock(s.lastWsClose.udt)}`;
    this.#hs.textContent = s.handshakeData === null || s.handshakeData === undefined ? '—' : preview(s.handshakeData);
    this.#nextAt = s.udtNextReconnect;
    this.#tick();
    if (this.#nextAt !== undefined && this.#ticker === undefined) this.#ticker = setInterval(() => this.#tick(), 200);
  }

  #tick(): void {
    if (this.#nextAt === undefined) {
      this.#next.textContent = '—';
      if (this.#ticker !== undefined) clearInterval(this.#ticker);
      this.#ticker = undefined;
      return;
    }
    const left = this.#nextAt - Date.now();
    this.#next.textContent = left > 0 ? `in ${(left / 1000).toFixed(1)} s (${clock(this.#nextAt)})` : `now (${clock(this.#nextAt)})`;
  }
}
