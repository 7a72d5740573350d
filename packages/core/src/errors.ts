/**
 * One error family for everything sente-rx reports to callers. `code` is a stable string; the
 * `chsk/*` codes are the ones a `send` Observable errors with, as Sente's `cb-error?` values.
 */
/**
 * The `code` of a {@link ChskError}.
 *
 * - `'chsk/closed'`: the channel socket closed (or was closed) before the send was handed over or
 *   before its reply came.
 * - `'chsk/timeout'`: no reply within the send's `timeoutMs`.
 * - `'chsk/error'`: the send failed: the value could not be packed, the transport could not send,
 *   or the server answered the request with an error.
 * - `'protocol/bad-frame'`, `'protocol/bad-event'`, `'protocol/too-large'`,
 *   `'protocol/unsupported-data'`: reserved for wire failures. Today these reach the peer as
 *   WebSocket close codes ({@link CloseCode} `BAD_FRAME`, `TOO_BIG`, `UNSUPPORTED_DATA`) and as
 *   logged warnings, not as thrown errors.
 */
export type ChskErrorCode =
  | 'chsk/closed'
  | 'chsk/timeout'
  | 'chsk/error'
  | 'protocol/bad-frame'
  | 'protocol/bad-event'
  | 'protocol/too-large'
  | 'protocol/unsupported-data';

const BRAND = Symbol.for('sente-rx/ChskError');

/** One problem a contract's schema found in an event's data or a reply (Standard Schema's issue, flattened). */
export interface ValidationIssue {
  /** Where in the data, from the root: `['items', 3, 'text']`; empty for the root itself. */
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

export class ChskError extends Error {
  // `declare`: set in the constructor, so no class-field initialiser (and no lowering helper in an ES2020 bundle).
  declare readonly code: ChskErrorCode;
  /** Present on a `'chsk/error'` caused by a failed contract validation. */
  declare readonly issues?: readonly ValidationIssue[];
  declare readonly [BRAND]: true;

  constructor(code: ChskErrorCode, message: string, options?: { cause?: unknown; issues?: readonly ValidationIssue[] }) {
    super(message, options);
    this.name = 'ChskError';
    this.code = code;
    if (options?.issues !== undefined) this.issues = options.issues;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `instanceof` that also holds across two copies of the package (a brand, not a prototype check). */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
  }
}

export function isChskError(x: unknown, code?: ChskErrorCode): x is ChskError {
  return x instanceof ChskError && (code === undefined || x.code === code);
}

/** Reply values the protocol reserves for failures (Sente's `cb-error?`). */
export const REPLY_ERROR_VALUES = ['chsk/closed', 'chsk/timeout', 'chsk/error'] as const;
export type ReplyErrorValue = (typeof REPLY_ERROR_VALUES)[number];

export function isReplyErrorValue(x: unknown): x is ReplyErrorValue {
  return x === 'chsk/closed' || x === 'chsk/timeout' || x === 'chsk/error';
}
