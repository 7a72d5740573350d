/**
 * `startClientChskRouter` (Sente's `start-client-chsk-router!`): handlers by event id over the
 * client's `recv$` (pushes, server requests and the reserved `chsk/*` events). The behaviour is
 * core's `startChskRouter`; see `@sente-rx/core` router-core.
 */
import { startChskRouter, type ChskHandlers, type ChskRouterOptions, type RoutableMsg } from '@sente-rx/core';
import type { Observable, Subscription } from 'rxjs';
import type { ClientEventMsg } from './types.js';

/** Handlers for the client's events: typed by the contract when `recv$` is. */
export type ClientChskHandlers<TMsg extends RoutableMsg = ClientEventMsg> = ChskHandlers<TMsg>;
export type ClientChskRouterOptions<TMsg extends RoutableMsg = ClientEventMsg> = ChskRouterOptions<TMsg>;

export function startClientChskRouter<TMsg extends RoutableMsg = ClientEventMsg>(
  recv$: Observable<TMsg>,
  handlers: ClientChskHandlers<TMsg>,
  options?: ClientChskRouterOptions<TMsg>,
): Subscription {
  return startChskRouter(recv$, handlers, options);
}
