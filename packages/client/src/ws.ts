// @sente-rx/client/ws: the channel socket client over WebSocket only, for a smaller browser bundle
// (issue 10). The same client as `@sente-rx/client` (client.ts) without the Ajax transport, `auto`
// and server→client requests; see the README's "Smaller bundle" section.
import type { EventContract, UntypedContract } from '@sente-rx/core';
import { type ClientFeatures, createClient } from './client.js';
import { createRecoveryTracker } from './recovery.js';
import { MAX_REQ_ID_LENGTH, refusalEvent } from './server-requests.js';
import { timerScheduler } from './timer-scheduler.js';
import { builtInTransports } from './transports/built-in.js';
import type { ChannelSocketClient, CsrfToken, WsClientOptions } from './types.js';

const WS: ClientFeatures = {
  scheduler: timerScheduler,
  types: ['ws'],
  typeNames: "'ws'",
  transports: builtInTransports,
  recovery: createRecoveryTracker,
  // Without server→client requests a request is refused at once (`chsk/error`, as an app that
  // cannot answer does), so the server's send ends now instead of at its timeout; nothing reaches recv$.
  serverRequests: ({ logger, transmit }) => (data) => {
    const reqId: unknown = Array.isArray(data) ? data[0] : undefined;
    logger.warn('sente-rx: refused a server request: @sente-rx/client/ws does not take them (use @sente-rx/client)', { id: Array.isArray(data) && Array.isArray(data[1]) ? data[1][0] : undefined });
    if (typeof reqId === 'string' && reqId !== '' && reqId.length <= MAX_REQ_ID_LENGTH) transmit(refusalEvent(reqId)); // else nobody to answer (PROTOCOL.md §9)
    return { kind: 'dropped' };
  },
};

/**
 * Creates a channel socket client over WebSocket: `createChannelSocketClient` of
 * `@sente-rx/client` without Ajax long-polling, `auto` or server→client requests (a request from
 * the server is answered `chsk/error`), for a smaller bundle. Options and client as there, except
 * that `type` is 'ws'.
 */
export function createChannelSocketClient<C extends EventContract = UntypedContract>(
  path: string,
  csrfToken: CsrfToken,
  opts: WsClientOptions & { readonly events?: C } = {},
): ChannelSocketClient<C> & { readonly pendingRequests: number } {
  return createClient(path, csrfToken, opts, WS);
}

export * from './exports.js';
