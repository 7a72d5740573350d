/**
 * Events, the unit of everything sente-rx sends: `readonly [id, data?]`, where `id` is a namespaced
 * string (`"my-app/some-req"`). Ids in the `chsk/` namespace are reserved for the library.
 * Mirrors Sente's `validate-event` / `assert-event` / `as-event`.
 */

/** A user id as returned by the server's `userId(req)`. */
export type Uid = string;

/** An event: `[id]` or `[id, data]`. */
export type ChskEvent<TId extends string = string, TData = unknown> =
  | readonly [id: TId]
  | readonly [id: TId, data: TData];

/** The shared uid of every anonymous client (Sente's `:sente/nil-uid`). */
export const NIL_UID = 'sente/nil-uid';
/** `send` target that reaches every anonymous client (Sente's `:sente/all-users-without-uid`). */
export const ALL_USERS_WITHOUT_UID = 'sente/all-users-without-uid';

/** Why a value is not an event; the strings follow Sente's `validate-event` keywords. */
export type EventProblem = 'wrong-type' | 'wrong-length' | 'wrong-id-type' | 'unnamespaced-id';

const NAMESPACED_ID = /^[^/\s]+\/[^\s]+$/;

/** Returns `undefined` for a valid event, otherwise what is wrong with it. */
export function validateEvent(x: unknown): EventProblem | undefined {
  if (!Array.isArray(x)) return 'wrong-type';
  if (x.length < 1 || x.length > 2) return 'wrong-length';
  const id: unknown = x[0];
  if (typeof id !== 'string') return 'wrong-id-type';
  if (!NAMESPACED_ID.test(id)) return 'unnamespaced-id';
  return undefined;
}

export function isEvent(x: unknown): x is ChskEvent {
  return validateEvent(x) === undefined;
}

/** True for ids in the library's reserved `chsk/` namespace. */
export function isReservedId(id: string): boolean {
  return id.startsWith('chsk/');
}

/** Throws a `TypeError` naming the problem unless `x` is a valid event. */
export function assertEvent(x: unknown, what = 'event'): asserts x is ChskEvent {
  const problem = validateEvent(x);
  if (problem !== undefined) {
    throw new TypeError(`${what} must be [id, data?] with a namespaced string id ("ns/name"): ${problem} in ${preview(x)}`);
  }
}

/** An event as is, or `['chsk/bad-event', x]` (Sente's `as-event`). */
export function asEvent(x: unknown): ChskEvent {
  return isEvent(x) ? x : (['chsk/bad-event', x] as const);
}

/** A short, log-safe rendering of an arbitrary value. */
export function preview(x: unknown, max = 120): string {
  let s: string;
  try {
    s = typeof x === 'string' ? JSON.stringify(x) : (JSON.stringify(x) ?? String(x));
  } catch {
    s = Object.prototype.toString.call(x);
  }
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}
