/**
 * The seams the core's modules share: one channel abstraction for both transports (Sente's
 * `IServerChan`), and the context every module gets from server.ts.
 */
import { type ChskEvent, Envelopes, type KindedEnvelope, type Logger, MAX_ISSUES, NIL_UID, type Packed, type Packer, packEnvelope, type Uid } from '@sente-rx/core';
import type { SchedulerLike } from 'rxjs';
import { ISSUES } from './requests.js';
import type { RequestInfo, ResolvedOptions, SendFn } from './types.js';

/**
 * One open way to push to a client, whichever the transport: an open WebSocket, or a held Ajax
 * poll. A held poll takes one `send` and is then over (the client polls again); a WebSocket takes
 * any number. The transport that made the channel tells the registry when it ends.
 */
export interface ServerChan {
  /** Whether `send` can deliver now. */
  readonly open: boolean;
  /** Delivers one packed push batch; `false` when it could not (closed, or the client was cut off). */
  send(packed: Packed): boolean;
  /** Ends the channel: a WebSocket closes with `code`/`reason`; a held poll is answered with `chsk/timeout`. */
  close(code: number, reason: string): void;
}

/**
 * Refuses a client request whose event the contract rejected, with the issues, where the transport
 * can carry them (WebSocket: a `chsk/issues` push entry right before the `chsk/error` reply).
 */
export type RefuseFn = (issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[]) => void;

/** Who an event-msg comes from. */
export interface Origin {
  readonly uid: Uid;
  readonly clientId: string;
}

/** The options that do not depend on the host's request type. */
export type PlainOptions = Omit<ResolvedOptions<never>, 'userId' | 'csrfToken' | 'handshakeData' | 'authorized' | 'reject'>;

/** What server.ts hands every module. */
export interface SharedContext {
  readonly options: PlainOptions;
  readonly packer: Packer;
  readonly logger: Logger;
  /** The one time source: every timer and clock read goes through it. */
  readonly scheduler: SchedulerLike;
  readonly send: SendFn;
  /** Puts an event-msg on `recv$`. */
  emit(from: Origin, event: ChskEvent, request: RequestInfo, reply?: (v: unknown) => void, refuse?: RefuseFn): void;
  /** A client's `["chsk/reply", payload]` to a server→client request (requests.ts). */
  clientReply(from: Origin, payload: unknown): void;
  /** A client left for good (its grace period expired with no connection on any transport). */
  clientGone(uid: Uid, clientId: string): void;
  /** True once `close()` began: nothing new starts. */
  readonly closing: boolean;
}

/** The context of modules that call the request-typed options (`userId`, `handshakeData`). */
export interface CoreContext<TReq> extends SharedContext {
  readonly options: ResolvedOptions<TReq>;
}

/** Wraps `fn` so only its first call runs; later calls are logged and ignored. */
export function onceReply<T = unknown>(logger: Logger, fn: (v: T) => void): (v: T) => void {
  let done = false;
  return (v) => {
    if (done) {
      logger.debug('sente-rx: reply() called again; only the first reply is sent');
      return;
    }
    done = true;
    fn(v);
  };
}

/** Packs an answer (a reply, pong, chsk/error…); a value the packer refuses becomes `chsk/error`, logged. */
export function packReply(ctx: Pick<SharedContext, 'packer' | 'logger'>, answer: KindedEnvelope, clientId: string): Packed {
  try {
    return packEnvelope(ctx.packer, answer);
  } catch (err) {
    ctx.logger.error('sente-rx: a reply could not be packed; the client gets chsk/error', { err, clientId });
    return packEnvelope(ctx.packer, Envelopes.error(answer.value[1]));
  }
}

/** The uid of a request: `userId`'s answer, or `NIL_UID` for nothing. May throw (the caller answers 500 / 1011). */
export function uidOf<TReq>(ctx: CoreContext<TReq>, req: TReq, clientId: string): Uid {
  const uid = ctx.options.userId(req, clientId);
  return uid === null || uid === undefined || uid === '' ? NIL_UID : String(uid);
}

/** The push batch `[["chsk/issues", [cbId, issues]]]` that precedes a refused request's `chsk/error` reply. */
export function packIssues(ctx: Pick<SharedContext, 'packer'>, cbId: string, issues: Parameters<RefuseFn>[0]): Packed {
  // Paths may hold symbols (never JSON); keep strings and numbers.
  const plain = issues.slice(0, MAX_ISSUES).map((i) => ({ path: i.path.filter((p) => typeof p !== 'symbol'), message: i.message }));
  return packEnvelope(ctx.packer, Envelopes.batch([[ISSUES, [cbId, plain]]]));
}
