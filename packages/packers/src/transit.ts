/**
 * `transitPacker`: Sente's Transit packer (`taoensso.sente.packers.transit`, JSON encoding), on
 * `transit-js`, the reference implementation that Sente's ClojureScript side uses too. Values map
 * to plain JS by the same rules as EDN (./shape.ts, ./edn-reader.ts):
 *
 * | Transit | JS |
 * |---|---|
 * | keyword `~:a/b`, symbol `~$a/b`, char `~ca` | `string` |
 * | map (`["^ ", …]`, `~#cmap`) | object or `Map` (the key rule of ./shape.ts) |
 * | array, `~#list` | `Array` |
 * | `~#set` | `Set` |
 * | integer (JSON number, `~i…`) | `number` when safe, else `bigint`; `~n…` (BigInt) → `bigint` |
 * | `~f…` (BigDecimal), `~#ratio` | `number` |
 * | `~zNaN`, `~zINF`, `~z-INF` | `NaN`, `Infinity`, `-Infinity` |
 * | `~m…`, `~t…` | `Date` |
 * | `~u…` | {@link Uuid} |
 *
 * Writing: `bigint` → `~n…`, `Date` → `~m…`, {@link Uuid} → `~u…`, objects → maps with keyword keys
 * where the key is a keyword name; keywords elsewhere only in the envelope kind's slots. Unknown
 * tags, cache misses and malformed JSON throw a `ChskError` `protocol/bad-frame`.
 */
import { ChskError, type EnvelopeKind, type Packed, type Packer } from '@sente-rx/core';
import transit from 'transit-js';
import { buildMap, emitEnvelope, type Emitter, isKeywordName, isPlainObject, MAX_DEPTH, Uuid } from './shape.js';
import { decodeText } from './text.js';

const bad = (msg: string, cause?: unknown): ChskError => new ChskError('protocol/bad-frame', `Transit: ${msg}`, cause === undefined ? undefined : { cause });
const unsupported = (what: string): ChskError => new ChskError('protocol/unsupported-data', `Transit cannot write ${what}`);

// ---- writing ------------------------------------------------------------------------------------

function toTransit(x: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw unsupported(`data nested deeper than ${MAX_DEPTH} (or a cycle)`);
  switch (typeof x) {
    case 'string':
    case 'number':
    case 'boolean':
      return x;
    case 'bigint':
      return transit.bigInt(x.toString());
    case 'undefined':
      return null;
    case 'object':
      break;
    default:
      throw unsupported(`a ${typeof x}`);
  }
  if (x === null) return null;
  if (Array.isArray(x)) return x.map((v: unknown) => toTransit(v, depth + 1));
  if (x instanceof Date) {
    if (Number.isNaN(x.getTime())) throw unsupported('an invalid Date');
    return x;
  }
  if (x instanceof Uuid) return transit.uuid(x.value);
  if (x instanceof Set) return transit.set([...x].map((v: unknown) => toTransit(v, depth + 1)));
  if (x instanceof Map) {
    const kvs: unknown[] = [];
    for (const [k, v] of x) kvs.push(toTransit(k, depth + 1), toTransit(v, depth + 1));
    return transit.map(kvs);
  }
  if (isPlainObject(x)) {
    const kvs: unknown[] = [];
    for (const k of Object.keys(x)) {
      const v = x[k];
      if (v === undefined) continue;
      kvs.push(isKeywordName(k) ? transit.keyword(k) : k, toTransit(v, depth + 1));
    }
    return transit.map(kvs);
  }
  throw unsupported(`an instance of ${(x as { constructor?: { name?: string } }).constructor?.name ?? 'a class'}`);
}

const emitter: Emitter<unknown> = {
  keyword: (name) => transit.keyword(name),
  data: (v) => toTransit(v, 0),
  vector: (items) => items,
};

// ---- reading ------------------------------------------------------------------------------------

/** A goog.math.Long, which transit-js returns for `~i` integers past 2^53. */
const isLong = (x: object): boolean => transit.isInteger(x) && typeof x !== 'number';

function fromTransit(x: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw bad(`nesting deeper than ${MAX_DEPTH}`);
  switch (typeof x) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return x;
    case 'object':
      break;
    default:
      throw bad(`unreadable value (${typeof x}: a cache miss?)`);
  }
  if (x === null || x instanceof Date || x instanceof Uuid) return x;
  if (Array.isArray(x)) return x.map((v: unknown) => fromTransit(v, depth + 1));
  if (transit.isKeyword(x) || transit.isSymbol(x)) return keywordName(x);
  if (transit.isMap(x)) {
    const keys: unknown[] = [];
    const kws: boolean[] = [];
    const values: unknown[] = [];
    (x as Map<unknown, unknown>).forEach((v, k) => {
      const isKw = transit.isKeyword(k);
      keys.push(isKw ? keywordName(k) : fromTransit(k, depth + 1));
      kws.push(isKw);
      values.push(fromTransit(v, depth + 1));
    });
    return buildMap(keys, kws, values, (k) => bad(`duplicate map key ${String(k).slice(0, 40)}`));
  }
  if (transit.isSet(x)) {
    // forEach, not the iterator: transit-js's set iterator breaks on hash collisions (0 and "").
    const items: unknown[] = [];
    (x as Set<unknown>).forEach((v) => items.push(fromTransit(v, depth + 1)));
    const set = new Set(items);
    if (set.size !== items.length) throw bad('duplicate set element');
    return set;
  }
  if (isLong(x)) {
    const n = BigInt(String(x));
    return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
  }
  if (transit.isTaggedValue(x)) throw bad(`no reader for tag ${String((x as { tag?: unknown }).tag).slice(0, 40)}`);
  throw bad('unreadable value');
}

/** `":ns/name"` printed by transit-js → `"ns/name"`. */
const keywordName = (k: unknown): string => String(k).replace(/^:/, '');

const reader = transit.reader('json', {
  handlers: {
    list: (rep: unknown) => rep,
    n: (rep: unknown) => BigInt(String(rep)),
    f: (rep: unknown) => Number(rep),
    u: (rep: unknown) => new Uuid(String(rep)),
    ratio: (rep: unknown) => {
      if (!Array.isArray(rep) || rep.length !== 2) throw bad('invalid ratio');
      return Number(rep[0]) / Number(rep[1]);
    },
  },
});
const writer = transit.writer('json');

/** A {@link Packer} whose `pack` is known to return text. */
export const transitPacker: { pack(value: unknown, kind?: EnvelopeKind): string } & Packer = Object.freeze({
  binary: false,
  senteFormat: true,
  pack(value: unknown, kind?: EnvelopeKind): string {
    return writer.write(emitEnvelope(value, kind, emitter));
  },
  unpack(data: Packed): unknown {
    const text = decodeText(data);
    let raw: unknown;
    try {
      raw = reader.read(text);
    } catch (cause) {
      throw bad(cause instanceof Error ? cause.message : 'malformed input', cause);
    }
    return fromTransit(raw, 0);
  },
});

export { Uuid } from './shape.js';
