/**
 * `msgpackPacker`: MessagePack binary frames and `application/octet-stream` Ajax bodies, on
 * `@msgpack/msgpack` (the msgpack organisation's implementation: no dependencies, ESM, about 6 kB
 * min+gzip; `msgpackr` is about twice as fast but twice the size and pulls a native optional
 * dependency). It is for sente-rx on both ends: Sente's own msgpack packer uses its own extension
 * types (keywords, cached map keys), which this one does not write, so it does not talk to
 * Clojure Sente. The envelope kind is ignored (no keywords). Values:
 *
 * | JS | MessagePack |
 * |---|---|
 * | `null` / `undefined`, boolean, string | nil, bool, str (an object property that is `undefined` is left out) |
 * | `number` | int up to 32 bits, else float64 (exact for safe integers; `-0` reads back as `0`, as with JSON) |
 * | `bigint` | int64 / uint64, read back as `bigint` (beyond 64 bits it wraps: a known limit of `@msgpack/msgpack`) |
 * | `Array`, plain object | array, map (string keys; a `"__proto__"` key is refused when read) |
 * | `Uint8Array` | bin |
 * | `Date` | timestamp (ext −1, as Sente's) |
 * | `Set` | ext 4 holding an array (Sente's set id) |
 * | {@link Uuid} | ext 9 holding the text (Sente's UUID id) |
 * | `Map` | ext 16 holding an array `[k, v, …]` |
 *
 * Malformed or truncated input and trailing bytes throw a `ChskError` `protocol/bad-frame`; an
 * unknown extension type reads as `@msgpack/msgpack`'s `ExtData`.
 */
import { ChskError, type EnvelopeKind, type Packed, type Packer } from '@sente-rx/core';
import { decode, encode, ExtensionCodec } from '@msgpack/msgpack';
import { MAX_DEPTH, Uuid } from './shape.js';

const EXT_SET = 4;
const EXT_UUID = 9;
const EXT_MAP = 16;

const codec = new ExtensionCodec();
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

const encOpts = { extensionCodec: codec, useBigInt64: true, ignoreUndefined: true, maxDepth: MAX_DEPTH } as const;
const decOpts = { extensionCodec: codec, useBigInt64: true } as const;

codec.register({
  type: EXT_SET,
  encode: (x: unknown) => (x instanceof Set ? encode([...x], encOpts) : null),
  decode: (data: Uint8Array) => {
    const items = decode(data, decOpts);
    if (!Array.isArray(items)) throw new ChskError('protocol/bad-frame', 'msgpack: set extension without an array');
    return new Set<unknown>(items);
  },
});
codec.register({
  type: EXT_UUID,
  encode: (x: unknown) => (x instanceof Uuid ? utf8.encode(x.value) : null),
  decode: (data: Uint8Array) => new Uuid(fromUtf8.decode(data)),
});
codec.register({
  type: EXT_MAP,
  encode: (x: unknown) => (x instanceof Map ? encode([...x].flat(1), encOpts) : null),
  decode: (data: Uint8Array) => {
    const kvs = decode(data, decOpts);
    if (!Array.isArray(kvs) || kvs.length % 2 !== 0) throw new ChskError('protocol/bad-frame', 'msgpack: map extension without [k, v, …]');
    const m = new Map<unknown, unknown>();
    for (let i = 0; i < kvs.length; i += 2) m.set(kvs[i], kvs[i + 1]);
    return m;
  },
});

/** A {@link Packer} whose `pack` is known to return bytes. */
export const msgpackPacker: { pack(value: unknown, kind?: EnvelopeKind): Uint8Array } & Packer = Object.freeze({
  binary: true,
  senteFormat: false,
  pack(value: unknown): Uint8Array {
    try {
      return encode(value, encOpts);
    } catch (cause) {
      throw new ChskError('protocol/unsupported-data', `msgpack cannot write the value: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
  },
  unpack(data: Packed): unknown {
    if (typeof data === 'string') throw new ChskError('protocol/bad-frame', 'msgpack: a text frame for a binary packer');
    let v: unknown;
    try {
      v = decode(data, decOpts);
    } catch (cause) {
      if (cause instanceof ChskError) throw cause;
      throw new ChskError('protocol/bad-frame', `msgpack: ${cause instanceof Error ? cause.message : 'malformed input'}`, { cause });
    }
    return v;
  },
});

export { Uuid } from './shape.js';
