/**
 * The event router both `startServerChskRouter` and `startClientChskRouter` are (Sente's
 * `start-server-chsk-router!` / `start-client-chsk-router!`): handlers keyed by event id, plus
 * `default`, over a `recv$`.
 *
 * - A handler may return a value, a Promise or an Observable (its first value is taken and the
 *   rest unsubscribed). When the msg has `reply` (the sender asked for one) and the handler did
 *   not call `msg.reply` itself, that value is the reply. `undefined` (or a Promise of it, or an
 *   Observable that completes empty) sends nothing, so a handler may still reply later itself.
 * - A handler that throws, rejects or errors goes to `options.errorHandler(err, msg)`; when a
 *   reply is still pending, the sender gets `'chsk/error'` (its request fails at once instead of
 *   timing out). A throwing `errorHandler` is logged. Nothing reaches the process or stops the router.
 * - Handlers run concurrently, one call per msg as it arrives; an id without a handler and no
 *   `default` is ignored (another subscriber of `recv$` may handle it).
 * - The returned `Subscription` stops the router: it unsubscribes `recv$` and every pending
 *   Observable result; a Promise that settles later sends no reply (its failure is still reported).
 *   The router also stops when `recv$` completes (the socket was closed) or errors (logged).
 */
import { isObservable, Subscription, take, type Observable } from 'rxjs';
import type { ReplyFn } from './contract.js';
import { preview } from './event.js';
import { consoleLogger, type Logger } from './logger.js';

/** What a router needs of an event-msg. */
export interface RoutableMsg {
  readonly id: string;
  readonly reply?: ReplyFn<never> | undefined;
}

/** The member of a msg union with id `TId` (the whole msg when ids are plain strings). */
export type MsgOfId<TMsg extends RoutableMsg, TId extends string> = string extends TMsg['id'] ? TMsg : Extract<TMsg, { readonly id: TId }>;

/** The reply value a msg's `reply` takes; `never` when it has none. */
export type ReplyValueOf<TMsg> = TMsg extends { readonly reply?: infer F }
  ? [NonNullable<F>] extends [never]
    ? never
    : NonNullable<F> extends (value: infer R) => void
      ? R
      : never
  : never;

/** What a handler may return: checked against the reply type when the event declares one. */
export type HandlerResult<TReply> = [TReply] extends [never]
  ? unknown
  : TReply | void | PromiseLike<TReply | void> | Observable<TReply>;

export type ChskHandler<TMsg extends RoutableMsg> = (msg: TMsg) => HandlerResult<ReplyValueOf<TMsg>>;

/** Handlers by event id (narrowed to that id's msg), plus `default` for every other id. */
export type ChskHandlers<TMsg extends RoutableMsg> = {
  readonly [TId in TMsg['id']]?: ChskHandler<MsgOfId<TMsg, TId>>;
} & { readonly default?: ChskHandler<TMsg> };

export interface ChskRouterOptions<TMsg extends RoutableMsg> {
  /**
   * Called with what a handler threw, rejected with or errored with, and the msg it was handling.
   * @default logs `'sente-rx: an event handler failed'` at error level through `logger`
   */
  readonly errorHandler?: (err: unknown, msg: TMsg) => void;
  /** @default consoleLogger (warnings and errors to the console) */
  readonly logger?: Logger;
}

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : preview(err));

const isThenable = (x: unknown): x is PromiseLike<unknown> =>
  ((typeof x === 'object' && x !== null) || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function';

/** Starts a router over `recv$` (see the module comment). */
export function startChskRouter<TMsg extends RoutableMsg>(
  recv$: Observable<TMsg>,
  handlers: ChskHandlers<TMsg>,
  options: ChskRouterOptions<TMsg> = {},
): Subscription {
  const logger = options.logger ?? consoleLogger;
  const errorHandler =
    options.errorHandler ?? ((err: unknown, msg: TMsg) => logger.error('sente-rx: an event handler failed', { id: msg.id, error: errorText(err) }));
  const table = handlers as Readonly<Record<string, ChskHandler<TMsg> | undefined>>;
  const router = new Subscription();

  const report = (err: unknown, msg: TMsg): void => {
    try {
      errorHandler(err, msg);
    } catch (again) {
      logger.error('sente-rx: the router errorHandler threw', { id: msg.id, error: errorText(again), original: errorText(err) });
    }
  };

  const route = (msg: TMsg): void => {
    const own = msg.id !== 'default' && Object.hasOwn(table, msg.id) ? table[msg.id] : undefined;
    const handler = own ?? table.default;
    if (handler === undefined) return;

    const original = msg.reply as ReplyFn<unknown> | undefined;
    let replied = false;
    const reply = (value: unknown): void => {
      if (replied || original === undefined) return;
      replied = true;
      try {
        original(value);
      } catch (err) {
        report(err, msg);
      }
    };
    // The handler gets a msg whose `reply` records that it was called, so the router does not answer twice.
    const handed = original === undefined ? msg : ({ ...msg, reply } as TMsg);
    const settle = (value: unknown): void => {
      if (value !== undefined) reply(value);
    };
    const fail = (err: unknown): void => {
      report(err, msg);
      reply('chsk/error');
    };

    let result: unknown;
    try {
      result = handler(handed);
    } catch (err) {
      fail(err);
      return;
    }
    if (isObservable(result)) {
      const sub = result.pipe(take(1)).subscribe({ next: settle, error: fail });
      if (!sub.closed) {
        router.add(sub);
        sub.add(() => router.remove(sub));
      }
    } else if (isThenable(result)) {
      result.then(
        (value) => {
          if (!router.closed) settle(value);
        },
        (err: unknown) => {
          report(err, msg);
          if (!router.closed) reply('chsk/error');
        },
      );
    } else {
      settle(result);
    }
  };

  router.add(
    recv$.subscribe({
      next: route,
      error: (err: unknown) => {
        logger.error('sente-rx: the router stopped: recv$ errored', { error: errorText(err) });
        router.unsubscribe();
      },
      complete: () => router.unsubscribe(),
    }),
  );
  return router;
}
