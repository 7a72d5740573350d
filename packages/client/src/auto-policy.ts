/**
 * The `auto` fallback policy as a pure function: what happened in, what to do out. The client
 * feeds it every handshake and every close of a connection it made, and `reset` on reconnect().
 *
 * The rule: fall back from WebSocket to Ajax when WebSocket never opened since the last reset, or
 * when it opened and then died abnormally (no closing handshake: a middlebox, not the server)
 * within `flakyWindowMs`, twice in a row. A clean close (the server's close(), `chsk/close`) never
 * counts. The fallback is remembered (in storage) only once Ajax has opened: the server may just
 * be down.
 *
 * Fall back only when HTTP works and WebSocket does not: a downgrade is a probe until Ajax opens.
 * When that Ajax attempt gets no HTTP answer at all (connection refused, like the WebSocket), the
 * server is down, not WebSocket blocked: the next attempt is WebSocket again (after the backoff),
 * and nothing is remembered. A server that comes back is thus first reached over WebSocket.
 */
import type { TransportType } from '@sente-rx/core';

export interface AutoState {
  /** Connect over Ajax next. */
  readonly useAjax: boolean;
  readonly wsEverOpened: boolean;
  /** When the last WebSocket opened (scheduler clock). */
  readonly wsOpenedAt: number;
  /** Abnormal short-lived WebSocket closes in a row. */
  readonly wsFlaky: number;
  /** Remember the fallback once Ajax opens. */
  readonly rememberOnAjaxOpen: boolean;
}

export type AutoInput =
  /** A connection handshook. */
  | { readonly kind: 'opened'; readonly type: TransportType; readonly at: number }
  /**
   * A connection closed; `everOpened`: its socket had opened (WebSocket) or it had handshaken
   * (Ajax); `answered`: an HTTP response refused it (a status is known).
   */
  | {
      readonly kind: 'closed';
      readonly type: TransportType;
      readonly everOpened: boolean;
      readonly clean: boolean;
      readonly answered: boolean;
      readonly at: number;
    }
  /** reconnect(): try WebSocket again, when there is one. */
  | { readonly kind: 'reset'; readonly wsAvailable: boolean };

export interface AutoStep {
  readonly state: AutoState;
  /** `closed` only: fall back to Ajax now (close reason 'downgrading-ws-to-ajax'). */
  readonly downgrade: boolean;
  /** Persist the fallback (true) or forget it (false); absent: leave storage alone. */
  readonly remember?: boolean;
}

export const initialAutoState = (useAjax: boolean): AutoState => ({ useAjax, wsEverOpened: false, wsOpenedAt: 0, wsFlaky: 0, rememberOnAjaxOpen: false });

export function autoStep(s: AutoState, input: AutoInput, flakyWindowMs: number): AutoStep {
  switch (input.kind) {
    case 'reset':
      return { state: initialAutoState(!input.wsAvailable), downgrade: false, remember: false };
    case 'opened':
      if (input.type === 'ws') return { state: { ...s, wsEverOpened: true, wsOpenedAt: input.at }, downgrade: false };
      return s.rememberOnAjaxOpen ? { state: { ...s, rememberOnAjaxOpen: false }, downgrade: false, remember: true } : { state: s, downgrade: false };
    case 'closed': {
      if (input.type !== 'ws') {
        // The Ajax probe after a downgrade got no HTTP answer either: the server is down.
        const serverDown = s.useAjax && s.rememberOnAjaxOpen && !input.everOpened && !input.answered;
        return serverDown ? { state: { ...s, useAjax: false, rememberOnAjaxOpen: false }, downgrade: false } : { state: s, downgrade: false };
      }
      let wsFlaky = s.wsFlaky;
      let downgrade: boolean;
      if (!input.everOpened || !s.wsEverOpened) downgrade = !s.wsEverOpened;
      else {
        wsFlaky = !input.clean && input.at - s.wsOpenedAt < flakyWindowMs ? wsFlaky + 1 : 0;
        downgrade = wsFlaky >= 2;
      }
      const state = { ...s, wsFlaky };
      return downgrade ? { state: { ...state, useAjax: true, rememberOnAjaxOpen: true }, downgrade } : { state, downgrade };
    }
  }
}
