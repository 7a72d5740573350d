/**
 * The example page (a port of Sente's example-project/src/example/client.cljs): one channel socket
 * client, its state map on a live panel, every received event in a log, and buttons for
 * everything the library does. Bundled by esbuild into dist/public/app.js.
 *
 * Query parameters: `type=ws|ajax|auto` (default auto) picks the transport; `wsKeepAliveMs`,
 * `wsPingTimeoutMs` and `ajaxTimeoutMs` tune the client's dead-socket detection (the browser
 * tests shorten them).
 */
import { createChannelSocketClient, startClientChskRouter, type ClientChskHandlers, type ClientEventMsg } from '@sente-rx/client';
import { type ChskState, type ClientEvent, type Logger, type ReplyOf, type RequestedType, isChskError } from '@sente-rx/core';
import type { Observable } from 'rxjs';
import { events, handshakeDataSchema, type ExampleEvents } from '../contract.js';
import { BROADCAST_COUNT, UID_PATTERN, type BreakMode, type SessionInfo } from '../events.js';
import { BroadcastMeter } from './broadcast-meter.js';
import { ConfirmPanel } from './confirm-panel.js';
import { byId, preview } from './dom.js';
import { EventLog } from './event-log.js';
import { StatePanel } from './state-panel.js';

const REPLY_TIMEOUT_MS = 5_000; // 5 s

// ---- configuration from the page and its URL --------------------------------------------------

const params = new URLSearchParams(location.search);
const requestedType: RequestedType = parseType(params.get('type'));
/** The session's CSRF token; a `let` because a restarted server hands out a new session (see below). */
let csrfToken = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';

const consoleLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (msg, data) => console.warn(`[sente-rx] ${msg}`, data ?? ''),
  error: (msg, data) => console.error(`[sente-rx] ${msg}`, data ?? ''),
};

// ---- the channel socket ----------------------------------------------------------------------

// The token is a function, so every connect and send reads the current one. `events` types
// send, recv$ and the replies by the contract, and checks what the server sends against it.
const chsk = createChannelSocketClient('/chsk', () => csrfToken, {
  events,
  type: requestedType,
  logger: consoleLogger,
  ...positiveInt('wsKeepAliveMs'),
  ...positiveInt('wsPingTimeoutMs'),
  ...positiveInt('ajaxTimeoutMs'),
});
// For poking at it from the devtools console: chsk.send(['example/echo', { text: 'hi' }], { timeoutMs: 5000 }).subscribe(console.log)
Object.assign(globalThis, { chsk });

type Outgoing = ClientEvent<ExampleEvents>;

/** A request: the event and its reply are typed (and the reply checked) by the contract. */
function request<E extends Outgoing>(event: E): Observable<ReplyOf<ExampleEvents, 'client', E[0]>> {
  return chsk.send(event, { timeoutMs: REPLY_TIMEOUT_MS });
}

/** A fire-and-forget send; a closed channel is reported in `out`. */
function tell(event: Outgoing, out: HTMLElement): void {
  chsk.send(event).subscribe({ error: (err: unknown) => showError(out, err) });
  log.add('sent', event[0], preview(event[1]));
}

// ---- the page --------------------------------------------------------------------------------

const log = new EventLog(byId<HTMLOListElement>('log'));
const panel = new StatePanel(requestedType);
const meter = new BroadcastMeter(byId('broadcast-grid'), byId('broadcast-status'), BROADCAST_COUNT);
const replyOut = byId('reply-output');
const userOut = byId('user-output');
const loopPill = byId('loop-state');
const noteOut = byId('note-output');
const confirmPanel = new ConfirmPanel(byId('confirm-box'), byId('confirm-question'), byId('btn-confirm-yes'), byId('btn-confirm-no'));

for (const a of document.querySelectorAll<HTMLAnchorElement>('.transports a')) {
  a.classList.toggle('current', a.dataset.type === requestedType);
}

chsk.state$.subscribe(([old, now]) => {
  panel.render(now);
  recoverForgottenSession(old, now);
});

let broadcastLine: { run: number; li: HTMLLIElement } | undefined;

/**
 * What the page does with each received event (Sente's `-event-msg-handler`): the handlers get
 * the contract's types, narrowed by id. `example/confirm` is a server→client request: the
 * handler's result (here a Promise of the user's answer) is the reply.
 */
const handlers: ClientChskHandlers<ClientEventMsg<ExampleEvents>> = {
  'chsk/state': (msg) => void log.add('state', msg.id, describeTransition(msg.data[0], msg.data[1])),
  'chsk/handshake': (msg) => {
    const [uid, data, first] = msg.data;
    const hs = handshakeDataSchema.safeParse(data);
    if (hs.success) setLoop(hs.data.loop);
    log.add('recv', msg.id, `uid ${uid}${first ? ', first handshake' : ''} ${preview(data)}`);
  },
  'chsk/ws-ping': (msg) => void log.add('ping', msg.id),
  'example/broadcast': (msg) => {
    // 100 events in one folded log line; the meter shows each one arrive.
    const { run, i, of } = msg.data;
    meter.receive(run, i, of);
    const line = broadcastLine?.run === run ? broadcastLine : (broadcastLine = { run, li: log.add('recv', msg.id) });
    EventLog.update(line.li, `example/broadcast ${meter.summary}`);
  },
  'example/loop-state': (msg) => {
    setLoop(msg.data.on);
    log.add('recv', msg.id, preview(msg.data));
  },
  'example/confirm': (msg) => {
    log.add('recv', msg.id, `the server asks: ${msg.data.question}`);
    return confirmPanel.ask(msg.data.question);
  },
  'example/note': (msg) => {
    show(noteOut, `note from ${msg.data.from}: ${msg.data.text}`);
    log.add('recv', msg.id, preview(msg.data));
  },
  default: (msg) => void log.add('recv', msg.id, preview(msg.data)),
};
startClientChskRouter(chsk.recv$, handlers, { logger: consoleLogger });

// ---- controls --------------------------------------------------------------------------------

onClick('btn-send', () => {
  show(replyOut, 'sent example/hello — no reply asked (the server logs it)');
  tell(['example/hello', { from: 'the send button', at: Date.now() }], replyOut);
});

onClick('btn-send-reply', () => {
  const t0 = performance.now();
  show(replyOut, 'waiting for the reply…');
  log.add('sent', 'example/echo', `(reply within ${REPLY_TIMEOUT_MS / 1000} s)`);
  request(['example/echo', { text: 'hello from the page', at: Date.now() }]).subscribe({
    next: (reply) => {
      show(replyOut, `reply after ${Math.round(performance.now() - t0)} ms: ${preview(reply)}`);
      log.add('reply', 'example/echo', preview(reply));
    },
    error: (err: unknown) => showError(replyOut, err),
  });
});

onClick('btn-broadcast', () => {
  byId('broadcast-status').textContent = 'asking the server…';
  request(['example/test-broadcast', {}]).subscribe({
    next: (r) => log.add('reply', 'example/test-broadcast', `run #${r.run}: ${r.count} events to ${r.uids.join(', ')}`),
    error: (err: unknown) => showError(byId('broadcast-status'), err),
  });
});

onClick('btn-loop', () =>
  request(['example/toggle-loop', {}]).subscribe({
    next: (r) => setLoop(r.on),
    error: (err: unknown) => showError(replyOut, err),
  }),
);

onClick('btn-disconnect', () => {
  log.add('info', 'disconnect()', '— no automatic reconnect until reconnect()');
  chsk.disconnect();
});
onClick('btn-reconnect', () => {
  log.add('info', 'reconnect()');
  chsk.reconnect();
});
const breakConnection = (mode: BreakMode): void => {
  show(
    replyOut,
    mode === 'kill'
      ? 'asked the server to kill this socket: the client sees it drop and reconnects'
      : 'asked the server to go silent on this socket: the client notices when its ping goes unanswered',
  );
  tell(['example/break', { mode }], replyOut);
};
onClick('btn-kill', () => breakConnection('kill'));
onClick('btn-silence', () => breakConnection('silence'));
onClick('btn-break', () => {
  // Sente's chsk-break-connection!: the client drops its own connection as a network failure would.
  log.add('info', 'breakConnection()');
  chsk.breakConnection();
});

byId<HTMLFormElement>('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void login(byId<HTMLInputElement>('login-uid').value.trim());
});
onClick('btn-logout', () => void login(null));

byId<HTMLFormElement>('push-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const to = byId<HTMLInputElement>('push-to').value.trim();
  const text = byId<HTMLInputElement>('push-text').value;
  request(['example/push', { to, text }]).subscribe({
    next: (r) =>
      'error' in r ? show(userOut, r.error, true) : show(userOut, `pushed to ${r.to} (${r.online ? 'connected' : 'not connected right now'})`),
    error: (err: unknown) => showError(userOut, err),
  });
});

onClick('btn-uids', () =>
  request(['example/connected-uids', {}]).subscribe({
    next: (r) => show(userOut, `connected uids: ${r.any.join(', ') || '—'}  ·  ws: ${r.ws.join(', ') || '—'}  ·  ajax: ${r.ajax.join(', ') || '—'}`),
    error: (err: unknown) => showError(userOut, err),
  }),
);

onClick('btn-clear', () => log.clear());

// ---- a server→client request and a broadcast ---------------------------------------------------

// The server answers example/ask-me by asking this tab (example/confirm, handled above), then
// replies with the answer it got.
onClick('btn-ask-me', () => {
  show(noteOut, 'asked the server to ask this tab…');
  request(['example/ask-me', { question: 'Do you confirm this request from the server?' }]).subscribe({
    next: (r) => ('error' in r ? show(noteOut, `no answer: ${r.error}`, true) : show(noteOut, `the server got the answer: ${r.answer ? 'yes' : 'no'}`)),
    error: (err: unknown) => showError(noteOut, err),
  });
});

byId<HTMLFormElement>('note-form').addEventListener('submit', (e) => {
  e.preventDefault();
  request(['example/note', { text: byId<HTMLInputElement>('note-text').value.slice(0, 200) }]).subscribe({
    error: (err: unknown) => showError(noteOut, err),
  });
});

// ---- login, and recovering a session the server forgot ---------------------------------------

/** POST /login with the CSRF token, then `reconnect()` so the new connection carries the new uid. */
async function login(uid: string | null): Promise<void> {
  if (uid !== null && !UID_PATTERN.test(uid)) return show(userOut, 'a uid is 1-32 characters of A-Z a-z 0-9 . _ @ -', true);
  try {
    let res = await postLogin(uid);
    // 403: the server does not know our session any more (it restarted): get a new one, try again.
    if (res.status === 403 && (await refreshSession())) res = await postLogin(uid);
    if (!res.ok) return show(userOut, `login failed: ${res.status} ${await res.text()}`, true);
    const info = (await res.json()) as SessionInfo;
    csrfToken = info.csrfToken;
    show(userOut, info.uid === null ? 'logged out; reconnecting as anonymous' : `logged in as ${info.uid}; reconnecting to pick up the new uid`);
    log.add('info', 'login', `${info.uid ?? '(logged out)'} → reconnect()`);
    chsk.reconnect();
  } catch (err) {
    showError(userOut, err);
  }
}

function postLogin(uid: string | null): Promise<Response> {
  return fetch('/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken },
    body: JSON.stringify({ uid }),
  });
}

/** GET /session; true when it handed us a different session (and token) than the one we had. */
async function refreshSession(): Promise<boolean> {
  const res = await fetch('/session', { cache: 'no-store' });
  if (!res.ok) return false;
  const info = (await res.json()) as SessionInfo;
  if (info.csrfToken === csrfToken) return false;
  csrfToken = info.csrfToken;
  log.add('info', 'session', `new session from the server (it had forgotten ours — restarted?); uid ${info.uid ?? 'anonymous'}`);
  return true;
}

let checkingSession = false;
/**
 * The demo's sessions live in the server's memory, so a restarted server refuses our old CSRF
 * token (403). The client does not retry a 401/403 by itself (Sente #368, #405): its state shows
 * `lastClose.reason === 'unauthorized'`. Then we ask for the session; if it is a new one, we
 * reconnect with its token. The same token again would only be refused again: we say so and wait
 * for the Reconnect button.
 */
function recoverForgottenSession(old: ChskState, now: ChskState): void {
  if (checkingSession || now.lastClose?.reason !== 'unauthorized' || old.lastClose === now.lastClose) return;
  checkingSession = true;
  log.add('info', 'unauthorized', `the server refused the channel (HTTP ${now.lastClose.status ?? '?'}): asking for a fresh session`);
  refreshSession()
    .then((renewed) => (renewed ? chsk.reconnect() : log.add('info', 'unauthorized', 'the session did not change: log in again or press Reconnect')))
    .catch(() => log.add('error', 'session', 'GET /session failed: press Reconnect to try again'))
    .finally(() => (checkingSession = false));
}

// ---- helpers ---------------------------------------------------------------------------------

function setLoop(on: boolean): void {
  loopPill.textContent = on ? 'loop on (every 5 s)' : 'loop off';
  loopPill.classList.toggle('on', on);
}

function onClick(id: string, fn: () => void): void {
  byId(id).addEventListener('click', fn);
}

function show(out: HTMLElement, text: string, isError = false): void {
  out.textContent = text;
  out.classList.toggle('error', isError);
}

function showError(out: HTMLElement, err: unknown): void {
  const text = isChskError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
  show(out, text, true);
  log.add('error', isChskError(err) ? err.code : 'error', text);
}

/** Keys that describe one transition only (set on the pair in which `open` flipped). */
const TRANSIENT_KEYS: ReadonlySet<keyof ChskState> = new Set(['openChanged', 'opened', 'closed', 'firstOpen']);

function describeTransition(old: ChskState, now: ChskState): string {
  if (now.opened) return `opened over ${now.type}${now.firstOpen ? ' (first open)' : ''}, uid ${now.uid ?? '—'}`;
  if (now.closed) return `closed: ${now.lastClose?.reason ?? '?'}`;
  const keys = new Set([...Object.keys(old), ...Object.keys(now)] as (keyof ChskState)[]);
  const parts: string[] = [];
  for (const k of keys) {
    if (old[k] === now[k] || TRANSIENT_KEYS.has(k)) continue;
    if (k === 'udtNextReconnect') {
      parts.push(now.udtNextReconnect === undefined ? 'reconnecting' : `reconnect in ${Math.max(0, (now.udtNextReconnect - Date.now()) / 1000).toFixed(1)} s`);
    } else if (k === 'lastWsClose') {
      parts.push(`WebSocket closed, code ${now.lastWsClose?.code ?? '?'}`);
    } else if (k === 'lastWsError') {
      parts.push('WebSocket error');
    } else if (k === 'uid' || k === 'type') {
      parts.push(`${k} ${now[k] ?? '—'}`);
    } else {
      parts.push(k);
    }
  }
  return parts.length > 0 ? parts.join(', ') : 'changed';
}

function parseType(t: string | null): RequestedType {
  return t === 'ws' || t === 'ajax' || t === 'auto' ? t : 'auto';
}

/** `{ [name]: n }` when the URL has a positive integer for `name`, else `{}` (the client's default). */
function positiveInt(name: 'wsKeepAliveMs' | 'wsPingTimeoutMs' | 'ajaxTimeoutMs'): { [k: string]: number } {
  const n = Number(params.get(name));
  return Number.isInteger(n) && n > 0 ? { [name]: n } : {};
}
