/**
 * createChannelSocketClient of `@sente-rx/client`: one channel to the server over WebSocket, Ajax
 * long-polling, or `auto` (WebSocket first, Ajax when it fails), with recovery and server→client
 * requests: the shared client (client.ts) with every feature.
 */
import type { EventContract, UntypedContract } from '@sente-rx/core';
import { asyncScheduler } from 'rxjs';
import { autoStep, initialAutoState } from './auto-policy.js';
import { type AutoDriver, type ClientFeatures, createClient } from './client.js';
import { defaultStorage, fallbackMemory } from './fallback-storage.js';
import { createRecoveryTracker } from './recovery.js';
import { createServerRequests } from './server-requests.js';
import { ajaxTransport } from './transports/ajax.js';
import { builtInTransports } from './transports/built-in.js';
import type { ChannelSocketClient, ClientOptions, CsrfToken } from './types.js';

/** The `auto` policy, remembering its fallback for the page in `opts.storage`. */
function autoDriver(path: string, opts: ClientOptions, wsAvailable: boolean, flakyWindowMs: number): AutoDriver {
  const fallback = fallbackMemory(opts.storage === undefined ? defaultStorage() : opts.storage, path);
  let state = initialAutoState(!wsAvailable || fallback.remembered());
  return {
    get useAjax() {
      return state.useAjax;
    },
    feed(input) {
      const step = autoStep(state, input, flakyWindowMs);
      state = step.state;
      if (step.remember !== undefined) fallback.remember(step.remember);
      return step.downgrade;
    },
  };
}

const FULL: ClientFeatures = {
  scheduler: asyncScheduler,
  types: ['auto', 'ws', 'ajax'],
  typeNames: "'auto', 'ws' or 'ajax'",
  transports: (path, requested, opts) => builtInTransports(path, requested, opts, ajaxTransport),
  auto: autoDriver,
  recovery: createRecoveryTracker,
  serverRequests: createServerRequests,
};

/**
 * Creates a channel socket client. `csrfToken` is the server's token for this session (a string,
 * or a function re-read on every connect and send); `null` when the server skips the check.
 * With `events` (a `defineEvents` contract) `send`, `recv$` and the replies are typed by it and
 * what the server sends is validated (see `ClientOptions.events`).
 */
export function createChannelSocketClient<C extends EventContract = UntypedContract>(
  path: string,
  csrfToken: CsrfToken,
  opts: ClientOptions & { readonly events?: C } = {},
): ChannelSocketClient<C> & { readonly pendingRequests: number } {
  return createClient(path, csrfToken, opts, FULL);
}
