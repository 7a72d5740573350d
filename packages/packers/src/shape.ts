/**
 * What the keyword formats (EDN, Transit) share: which slots of an envelope are keywords (by the
 * envelope's kind, decided where the envelope is built), the rule between Clojure maps and JS
 * objects, and the JS type of a UUID.
 *
 * ## Keywords
 * Reading, every keyword becomes a string without its colon (`:chat/msg` → `"chat/msg"`), so
 * sente-rx code sees the same strings as with JSON. Writing, a string becomes a keyword only in
 * the slots the envelope's kind names (see `EnvelopeKind` in @sente-rx/core) and as a map key
 * (below); everywhere else it stays a string.
 *
 * ## Maps and objects (one bijective rule)
 * A plain object's key `k` is written as the keyword `:k` when `k` is a keyword name
 * ({@link isKeywordName}), otherwise as the string `"k"`. Reading, a map becomes a plain object
 * when every key is a keyword with a keyword name or a string that is *not* one; any other map
 * (a string key that could be a keyword, like Clojure's `{"str-key" 1}`, or number, vector or nil
 * keys) becomes a `Map` whose keys are the read values. So every object and every Map survives a
 * round trip, and Clojure data with string keys comes back with string keys. Objects are built
 * with `defineProperty`, so a `"__proto__"` key is an own property, never a prototype.
 */
import { NIL_UID, type EnvelopeKind } from '@sente-rx/core';

/** A UUID (`#uuid "…"` in EDN, `~u…` in Transit). `value` is the canonical lower-case text. */
export class Uuid {
  readonly value: string;
  constructor(value: string) {
    if (!UUID_RE.test(value)) throw new TypeError(`not a UUID: ${value.slice(0, 60)}`);
    this.value = value.toLowerCase();
  }
  toString(): string {
    return this.value;
  }
  /** JSON has no UUID: the JSON packer writes the text. */
  toJSON(): string {
    return this.value;
  }
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// A conservative subset of what Clojure's reader takes as a keyword: a name, optionally
// `namespace/name`, each starting with a letter or one of * ! _ ? $ % & = < > . + - (and + - .
// not followed by a digit), then letters, digits, those and '.
const KW_PART = String.raw`(?:[+\-.](?![0-9])|[\p{L}*!_?$%&=<>])[\p{L}\p{N}*!_?$%&=<>.+\-']*`;
const KEYWORD_NAME_RE = new RegExp(`^${KW_PART}(?:/${KW_PART})?$`, 'u');

/** Whether `s` is written as a keyword when it is an object key (and in keyword slots). */
export const isKeywordName = (s: string): boolean => s.length <= 1024 && KEYWORD_NAME_RE.test(s);

/** How a format writes the three kinds of slot. */
export interface Emitter<T> {
  /** A keyword (only called with keyword names). */
  keyword(name: string): T;
  /** User data: strings stay strings, objects follow the map rule. */
  data(value: unknown): T;
  vector(items: T[]): T;
}

/** Writes an envelope of the given kind: keywords in the kind's slots, user data elsewhere. */
export function emitEnvelope<T>(value: unknown, kind: EnvelopeKind | undefined, e: Emitter<T>): T {
  if (kind === undefined || !Array.isArray(value) || value.length === 0) return e.data(value);
  const kw = (x: unknown): T => (typeof x === 'string' && isKeywordName(x) ? e.keyword(x) : e.data(x));
  const event = (x: unknown): T =>
    Array.isArray(x) && x.length > 0 && typeof x[0] === 'string' && isKeywordName(x[0])
      ? e.vector([e.keyword(x[0]), ...x.slice(1).map((d: unknown) => e.data(d))])
      : e.data(x);
  const [payload, cb, ...rest] = value as unknown[];
  let head: T;
  switch (kind) {
    case 'client-event':
    case 'ajax-event':
      head = event(payload);
      break;
    case 'server-batch':
      head = Array.isArray(payload) ? e.vector(payload.map(event)) : e.data(payload);
      break;
    case 'handshake':
      head =
        Array.isArray(payload) && payload[0] === 'chsk/handshake'
          ? e.vector([e.keyword('chsk/handshake'), handshakeData(payload[1], e), ...payload.slice(2).map((d: unknown) => e.data(d))])
          : e.data(payload);
      break;
    case 'reply':
    case 'pong':
      head = e.data(payload);
      break;
    case 'ws-ping':
    case 'lp-timeout':
    case 'dummy-cb-200':
    case 'closed':
    case 'error':
      head = kw(payload);
      break;
  }
  const items = [head];
  if (value.length > 1) items.push(kind === 'ajax-event' && cb === 'ajax' ? e.keyword('ajax') : e.data(cb));
  for (const r of rest) items.push(e.data(r));
  return e.vector(items);
}

function handshakeData<T>(hs: unknown, e: Emitter<T>): T {
  if (!Array.isArray(hs) || hs.length === 0) return e.data(hs);
  const [uid, ...rest] = hs as unknown[];
  return e.vector([uid === NIL_UID ? e.keyword(NIL_UID) : e.data(uid), ...rest.map((d) => e.data(d))]);
}

/** Sets `obj[key] = value` as an own property, whatever the key (no prototype pollution). */
export function defineEntry(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

/** A plain object (written as a map with the key rule), as opposed to a class instance. */
export function isPlainObject(x: object): x is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** Maximum nesting depth read or written; deeper data (or a cycle) is an error. */
export const MAX_DEPTH = 1000;

/**
 * Builds the JS value of a map from its read entries, by the rule in this module's comment.
 * `keyIsKeyword[i]` says whether entry i's key was a keyword. Duplicate keys throw `dup(key)`.
 */
export function buildMap(keys: unknown[], keyIsKeyword: boolean[], values: unknown[], dup: (key: unknown) => Error): Record<string, unknown> | Map<unknown, unknown> {
  let asObject = true;
  for (let i = 0; i < keys.length && asObject; i++) {
    const k = keys[i];
    asObject = typeof k === 'string' && isKeywordName(k) === keyIsKeyword[i];
  }
  if (asObject) {
    const obj: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      if (Object.prototype.hasOwnProperty.call(obj, k)) throw dup(k);
      defineEntry(obj, k, values[i]);
    }
    return obj;
  }
  const m = new Map<unknown, unknown>();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (m.has(k)) throw dup(k);
    m.set(k, values[i]);
  }
  return m;
}
