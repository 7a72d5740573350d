/**
 * Server→client requests, the client's half (PROTOCOL.md, "Server → client requests"):
 * - a push batch entry `["chsk/req", [reqId, [id, data]]]` is a request: `recv$` gets the inner
 *   event `[id, data]` as an event-msg with `reply(value)`;
 * - the first `reply(value)` goes back as an ordinary envelope without a cbId,
 *   `[["chsk/reply", [reqId, value]], null]`; later calls do nothing;
 * - `reply('chsk/error')` (what the router answers when a handler fails), a value that cannot be
 *   packed, or a request the contract refuses goes back as the refusal
 *   `[["chsk/reply", [reqId, null, "chsk/error", issues?]], null]`.
 * A reply sent while the channel is closed is dropped (the server's request then ends with
 * `chsk/closed` or `chsk/timeout`). This module knows nothing of transports: `transmit` hands the
 * reply event to whatever connection is current.
 */
import {
  type ChskEvent,
  type ContractChecks,
  isEvent,
  isReplyErrorValue,
  isReservedId,
  type Logger,
  MAX_CB_ID_LENGTH,
  preview,
  ReservedId,
  type ValidationIssue,
} from '@sente-rx/core';

/** The batch entry id of a server→client request. */
export const SERVER_REQUEST_ID = ReservedId.REQUEST;
/** The event id of the client's answer to one. */
export const SERVER_REPLY_ID = ReservedId.REPLY;
/** Longest request id a server may use. */
export const MAX_REQ_ID_LENGTH = MAX_CB_ID_LENGTH;

/** What the client does with one `chsk/req` entry. */
export type ServerRequestOutcome =
  /** Deliver `event` on `recv$` with this `reply`. */
  | { readonly kind: 'deliver'; readonly event: ChskEvent; readonly reply: (value: unknown) => void }
  /** Nothing to deliver (malformed, or refused and already answered). */
  | { readonly kind: 'dropped' };

export interface ServerRequestsConfig {
  /** The contract's validation (`defineEvents`) to check requests with; `undefined` (no contract, or `trustServer`) skips it. */
  readonly checking: ContractChecks | undefined;
  readonly logger: Logger;
  /**
   * Hands a `chsk/reply` event to the current connection (no cbId): 'sent', 'unpackable' (the
   * value did not pack) or 'closed' (no connection could carry it).
   */
  readonly transmit: (event: ChskEvent) => 'sent' | 'unpackable' | 'closed';
}

/** Issues as plain data: a symbol path segment cannot be packed, so it is written as its description. */
const wireIssues = (issues: readonly ValidationIssue[]): { path: (string | number)[]; message: string }[] =>
  issues.map((i) => ({ path: i.path.map((seg) => (typeof seg === 'symbol' ? String(seg) : seg)), message: i.message }));

/** `["chsk/reply", [reqId, value]]`. */
export const replyEvent = (reqId: string, value: unknown): ChskEvent => [SERVER_REPLY_ID, [reqId, value]];

/** `["chsk/reply", [reqId, null, "chsk/error", issues?]]`. */
export const refusalEvent = (reqId: string, issues?: readonly ValidationIssue[]): ChskEvent => [
  SERVER_REPLY_ID,
  issues === undefined || issues.length === 0 ? [reqId, null, 'chsk/error'] : [reqId, null, 'chsk/error', wireIssues(issues)],
];

const isReqId = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= MAX_REQ_ID_LENGTH;

export function createServerRequests(cfg: ServerRequestsConfig): (data: unknown) => ServerRequestOutcome {
  const { logger } = cfg;
  const refuse = (reqId: string, issues?: readonly ValidationIssue[]): void => {
    if (cfg.transmit(refusalEvent(reqId, issues)) !== 'sent') logger.debug('sente-rx: a refusal to a server request could not be sent', { reqId });
  };
  return (data) => {
    if (!Array.isArray(data) || data.length !== 2 || !isReqId(data[0])) {
      logger.warn('sente-rx: ignored a malformed server request (expected ["chsk/req", [reqId, [id, data]]])', { data: preview(data, 80) });
      return { kind: 'dropped' };
    }
    const reqId = data[0];
    const inner: unknown = data[1];
    if (!isEvent(inner) || isReservedId(inner[0])) {
      const issue: ValidationIssue = { path: [], message: `a server request must carry an app event [id, data?], got ${preview(inner, 60)}` };
      logger.warn('sente-rx: refused a malformed server request', { reqId, reason: issue.message });
      refuse(reqId, [issue]);
      return { kind: 'dropped' };
    }
    let event: ChskEvent = inner;
    if (cfg.checking !== undefined) {
      const checked = cfg.checking.incoming('server', inner, { replyAsked: true });
      if (!checked.ok) {
        logger.warn('sente-rx: refused a server request that failed validation', { id: inner[0], issues: checked.issues });
        refuse(reqId, checked.issues);
        return { kind: 'dropped' };
      }
      event = checked.value;
    }
    let replied = false;
    const reply = (value: unknown): void => {
      if (replied) return;
      replied = true;
      if (isReplyErrorValue(value)) {
        refuse(reqId);
        return;
      }
      const outcome = cfg.transmit(replyEvent(reqId, value));
      if (outcome === 'unpackable') {
        logger.warn('sente-rx: a reply to a server request could not be packed; answering chsk/error', { id: event[0], reqId });
        refuse(reqId);
      } else if (outcome === 'closed') {
        logger.debug('sente-rx: a reply to a server request was dropped: the channel is closed', { id: event[0], reqId });
      }
    };
    return { kind: 'deliver', event, reply };
  };
}
