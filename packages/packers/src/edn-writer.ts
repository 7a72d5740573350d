/**
 * An EDN writer that prints as Clojure's `pr-str` does (map entries separated by `, `, strings with
 * `\"` escapes and raw non-ASCII), so a frame for Sente reads as one Sente would send. The JS
 * types it writes are the reader's (./edn-reader.ts), back:
 *
 * | JS | EDN |
 * |---|---|
 * | `null`, `undefined` | `nil` (an object property whose value is `undefined` is left out, as JSON does) |
 * | safe integer | integer; other numbers: a float (`1.5`, `1.0E21` style, `-0.0`), `##Inf`, `##-Inf`, `##NaN` |
 * | `bigint` | `123N` |
 * | string | string; a keyword only in the envelope's keyword slots (`EnvelopeKind`) and as a map key |
 * | `Array` | vector |
 * | `Set` | set |
 * | `Map` | map, keys written as values |
 * | plain object | map with the key rule of ./shape.ts |
 * | `Date` | `#inst "…-00:00"` (as Clojure prints it) |
 * | {@link Uuid} | `#uuid "…"` |
 *
 * Anything else (functions, symbols, class instances, typed arrays, an invalid Date, a cycle or
 * nesting deeper than {@link MAX_DEPTH}) throws a `ChskError` `protocol/unsupported-data`.
 */
import { ChskError, type EnvelopeKind } from '@sente-rx/core';
import { emitEnvelope, type Emitter, isKeywordName, isPlainObject, MAX_DEPTH, Uuid } from './shape.js';

const unsupported = (what: string): ChskError => new ChskError('protocol/unsupported-data', `EDN cannot write ${what}`);

// Characters a string must escape: Clojure's own escapes, other C0 controls, and surrogates
// (a lone one is written as \uXXXX; a valid pair stays raw).
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f\ud800-\udfff]/;

export function writeString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  const out: string[] = ['"'];
  let chunk = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c === 34) esc = '\\"';
    else if (c === 92) esc = '\\\\';
    else if (c === 10) esc = '\\n';
    else if (c === 9) esc = '\\t';
    else if (c === 13) esc = '\\r';
    else if (c === 8) esc = '\\b';
    else if (c === 12) esc = '\\f';
    else if (c < 0x20 || c === 0x7f) esc = `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++; // a valid pair: raw
      else esc = `\\u${c.toString(16)}`;
    } else if (c >= 0xdc00 && c <= 0xdfff) esc = `\\u${c.toString(16)}`;
    if (esc !== undefined) {
      if (i > chunk) out.push(s.slice(chunk, i));
      out.push(esc);
      chunk = i + 1;
    }
  }
  if (chunk < s.length) out.push(s.slice(chunk));
  out.push('"');
  return out.join('');
}

function writeNumber(n: number): string {
  if (Number.isNaN(n)) return '##NaN';
  if (n === Infinity) return '##Inf';
  if (n === -Infinity) return '##-Inf';
  if (Object.is(n, -0)) return '-0.0';
  const s = String(n);
  if (Number.isSafeInteger(n)) return s;
  // A double must read back as a double: give it a decimal point or an exponent.
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function writeKey(k: string): string {
  return isKeywordName(k) ? `:${k}` : writeString(k);
}

function writeInto(x: unknown, out: string[], depth: number): void {
  if (depth > MAX_DEPTH) throw unsupported(`data nested deeper than ${MAX_DEPTH} (or a cycle)`);
  switch (typeof x) {
    case 'string':
      out.push(writeString(x));
      return;
    case 'number':
      out.push(writeNumber(x));
      return;
    case 'boolean':
      out.push(x ? 'true' : 'false');
      return;
    case 'bigint':
      out.push(`${x}N`);
      return;
    case 'undefined':
      out.push('nil');
      return;
    case 'object':
      break;
    default:
      throw unsupported(`a ${typeof x}`);
  }
  if (x === null) {
    out.push('nil');
    return;
  }
  if (Array.isArray(x)) {
    out.push('[');
    for (let i = 0; i < x.length; i++) {
      if (i > 0) out.push(' ');
      writeInto(x[i], out, depth + 1);
    }
    out.push(']');
    return;
  }
  if (x instanceof Date) {
    const t = x.getTime();
    if (Number.isNaN(t)) throw unsupported('an invalid Date');
    out.push(`#inst "${x.toISOString().replace(/Z$/, '-00:00')}"`);
    return;
  }
  if (x instanceof Uuid) {
    out.push(`#uuid "${x.value}"`);
    return;
  }
  if (x instanceof Set) {
    out.push('#{');
    let first = true;
    for (const v of x) {
      if (!first) out.push(' ');
      first = false;
      writeInto(v, out, depth + 1);
    }
    out.push('}');
    return;
  }
  if (x instanceof Map) {
    out.push('{');
    let first = true;
    for (const [k, v] of x) {
      if (!first) out.push(', ');
      first = false;
      writeInto(k, out, depth + 1);
      out.push(' ');
      writeInto(v, out, depth + 1);
    }
    out.push('}');
    return;
  }
  if (isPlainObject(x)) {
    out.push('{');
    let first = true;
    for (const k of Object.keys(x)) {
      const v = x[k];
      if (v === undefined) continue;
      if (!first) out.push(', ');
      first = false;
      out.push(writeKey(k), ' ');
      writeInto(v, out, depth + 1);
    }
    out.push('}');
    return;
  }
  throw unsupported(`an instance of ${(x as { constructor?: { name?: string } }).constructor?.name ?? 'a class'}`);
}

/** Writes user data: no keywords except the keys of plain objects. */
export function writeEdnData(x: unknown): string {
  const out: string[] = [];
  writeInto(x, out, 0);
  return out.join('');
}

const ednEmitter: Emitter<string> = {
  keyword: (name) => `:${name}`,
  data: writeEdnData,
  vector: (items) => `[${items.join(' ')}]`,
};

/** Writes a value as EDN; `kind` names the envelope, whose keyword slots become keywords. */
export function writeEdn(value: unknown, kind?: EnvelopeKind): string {
  return emitEnvelope(value, kind, ednEmitter);
}
