/** The page's event log: newest entry first, at most `max` entries kept. */
import { clock } from './dom.js';

export type LogKind = 'recv' | 'state' | 'reply' | 'sent' | 'info' | 'error' | 'ping';

export class EventLog {
  readonly #list: HTMLOListElement;
  readonly #max: number;

  constructor(list: HTMLOListElement, max = 200) {
    this.#list = list;
    this.#max = max;
  }

  /** Adds an entry; `id` (an event id, or a label) goes into `data-id` so it can be found again. */
  add(kind: LogKind, id: string, text = ''): HTMLLIElement {
    const li = document.createElement('li');
    li.dataset.kind = kind;
    li.dataset.id = id;
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = clock(Date.now());
    const k = document.createElement('span');
    k.className = `k k-${kind}`;
    k.textContent = kind;
    const m = document.createElement('span');
    m.className = 'm';
    m.textContent = text === '' ? id : `${id} ${text}`;
    li.append(t, k, m);
    this.#list.prepend(li);
    while (this.#list.childElementCount > this.#max) this.#list.lastElementChild?.remove();
    return li;
  }

  /** Rewrites an entry's message in place (used to fold 100 broadcast events into one line). */
  static update(li: HTMLLIElement, text: string): void {
    const m = li.querySelector('.m');
    if (m !== null) m.textContent = text;
  }

  clear(): void {
    this.#list.replaceChildren();
  }
}
