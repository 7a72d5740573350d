/**
 * `startServerChskRouter` (Sente's `start-server-chsk-router!`): handlers by event id over the
 * server's `recv$`. The behaviour (replies from return values, error isolation, stopping) is
 * core's `startChskRouter`; see `@sente-rx/core` router-core.
 */
import { startChskRouter, type ChskHandlers, type ChskRouterOptions, type RoutableMsg } from '@sente-rx/core';
import type { Observable, Subscription } from 'rxjs';
import type { ServerEventMsg } from './types.js';

/** Handlers for the server's events: typed by the contract when `recv$` is. */
export type ServerChskHandlers<TMsg extends RoutableMsg = ServerEventMsg> = ChskHandlers<TMsg>;
export type ServerChskRouterOptions<TMsg extends RoutableMsg = ServerEventMsg> = ChskRouterOptions<TMsg>;

export function startServerChskRouter<TMsg extends RoutableMsg = ServerEventMsg>(
  recv$: Observable<TMsg>,
  handlers: ServerChskHandlers<TMsg>,
  options?: ServerChskRouterOptions<TMsg>,
): Subscription {
  return startChskRouter(recv$, handlers, options);
}
