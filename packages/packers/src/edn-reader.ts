/**
 * An EDN reader (https://github.com/edn-format/edn, as Clojure's `clojure.edn` reads it), written
 * here because no npm library reads what Clojure prints: `edn-data` decodes `\b`, `\f` and
 * `\uXXXX` wrongly, loses integers past 2^53, accepts malformed input and builds maps in O(n²);
 * `jsedn` is unmaintained.
 *
 * One forward pass over the text: the position only grows, strings are sliced and joined (never
 * concatenated char by char), and the only regular expressions run on single tokens and cannot
 * backtrack, so reading (and failing on) a frame is linear in its size. Nesting is bounded by
 * {@link MAX_DEPTH}. JS values read, beyond {@link ./shape.ts}'s rules:
 *
 * | EDN | JS |
 * |---|---|
 * | `nil`, `true`, `false` | `null`, `true`, `false` |
 * | integer (`42`, `-7`, `0x1F`, `017`, `2r101`) | `number` when safe (|n| ≤ 2^53 − 1), else `bigint` |
 * | integer with `N` (`7N`) | `bigint` |
 * | float, `1.5M` (BigDecimal) | `number` (`M` loses precision past a double) |
 * | ratio `1/3` | `number` (the quotient) |
 * | `##Inf`, `##-Inf`, `##NaN` | `Infinity`, `-Infinity`, `NaN` |
 * | string, character (`\a`, `\newline`, `\u00e9`) | `string` (a character is a 1-char string) |
 * | keyword `:a/b`, symbol `a/b` | `string` `"a/b"` |
 * | vector, list | `Array` |
 * | set `#{…}` | `Set` (keywords and strings both become strings, so `#{:a "a"}` fails as a duplicate) |
 * | map, namespaced map `#:ns{…}` | object or `Map` (./shape.ts) |
 * | `#inst "…"` | `Date` |
 * | `#uuid "…"` | {@link Uuid} |
 *
 * Errors (all a `ChskError` `protocol/bad-frame`): unbalanced or unexpected delimiters, an odd
 * map, a duplicate map key or set element, an unknown tag, a bad escape, number, `#inst` or
 * `#uuid`, a number token longer than {@link MAX_NUMBER_LENGTH}, trailing data after the value,
 * and nesting deeper than {@link MAX_DEPTH}.
 */
import { ChskError } from '@sente-rx/core';
import { buildMap, MAX_DEPTH, Uuid } from './shape.js';

/** Counts the reader's work, so a test can check it grows linearly with the input. */
export interface ReadStats {
  /** Characters examined, regular-expression input included. */
  steps: number;
}

const NOTHING = Symbol('nothing'); // what `#_` and a closer produce

const CH = {
  TAB: 9, LF: 10, VT: 11, FF: 12, CR: 13, SPACE: 32, QUOTE: 34, HASH: 35, LPAREN: 40, RPAREN: 41,
  COMMA: 44, COLON: 58, SEMI: 59, LBRACKET: 91, BACKSLASH: 92, RBRACKET: 93, CARET: 94,
  LBRACE: 123, RBRACE: 125, UNDERSCORE: 95, BACKTICK: 96, TILDE: 126, AT: 64,
} as const;

const isWhitespace = (c: number): boolean =>
  c === CH.SPACE || c === CH.COMMA || c === CH.LF || c === CH.CR || c === CH.TAB || c === CH.FF || c === CH.VT ||
  (c >= 0x1c && c <= 0x1f) || c === 0x2028 || c === 0x2029;

/** Ends a token: whitespace or a terminating macro character of Clojure's reader. */
const isTerminator = (c: number): boolean =>
  isWhitespace(c) || c === CH.QUOTE || c === CH.SEMI || c === CH.LPAREN || c === CH.RPAREN || c === CH.LBRACKET ||
  c === CH.RBRACKET || c === CH.LBRACE || c === CH.RBRACE || c === CH.BACKSLASH || c === CH.CARET ||
  c === CH.BACKTICK || c === CH.TILDE || c === CH.AT;

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

// Clojure's number patterns (LispReader intPat, ratioPat, floatPat), anchored, on one token.
const INT_RE = /^([-+]?)(?:(0)|([1-9][0-9]*)|0[xX]([0-9A-Fa-f]+)|0([0-7]+)|([1-9][0-9]?)[rR]([0-9A-Za-z]+))(N)?$/;
const RATIO_RE = /^([-+]?[0-9]+)\/([0-9]+)$/;
const FLOAT_RE = /^[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?M?$/;
// RFC 3339 as Clojure's #inst reads it (each part after the year optional).
const INST_RE = /^(\d{4})(?:-(\d\d)(?:-(\d\d)(?:[Tt](\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?)?)?)?(?:[Zz]|([-+])(\d\d):(\d\d))?$/;

/** Longest number token read. */
export const MAX_NUMBER_LENGTH = 4096;

const NAMED_CHARS: Readonly<Record<string, string>> = Object.freeze({
  newline: '\n', space: ' ', tab: '\t', backspace: '\b', formfeed: '\f', return: '\r',
});

class Reader {
  readonly #s: string;
  #i = 0;
  #depth = 0;
  #stats: ReadStats | undefined;
  /** Whether the last value read was a keyword (map keys need to know). */
  #lastWasKeyword = false;

  constructor(s: string, stats: ReadStats | undefined) {
    this.#s = s;
    this.#stats = stats;
  }

  fail(msg: string, at = this.#i): never {
    throw new ChskError('protocol/bad-frame', `EDN: ${msg} at offset ${at}`);
  }

  #step(n: number): void {
    if (this.#stats !== undefined) this.#stats.steps += n;
  }

  /** Skips whitespace and comments; returns the next char code, or -1 at the end. */
  #skip(): number {
    const s = this.#s;
    let i = this.#i;
    const start = i;
    for (;;) {
      if (i >= s.length) break;
      const c = s.charCodeAt(i);
      if (isWhitespace(c)) i++;
      else if (c === CH.SEMI) {
        while (i < s.length && s.charCodeAt(i) !== CH.LF) i++;
      } else break;
    }
    this.#step(i - start);
    this.#i = i;
    return i < s.length ? s.charCodeAt(i) : -1;
  }

  readTop(): unknown {
    const v = this.#readValue();
    if (this.#skip() !== -1) this.fail('trailing data after the value');
    return v;
  }

  /** Reads one value, skipping `#_` discards. At the end or at a closer, fails. */
  #readValue(): unknown {
    for (;;) {
      const v = this.#readForm();
      if (v !== NOTHING) return v;
      const c = this.#skip();
      if (c === -1) this.fail('unexpected end of input');
      if (c === CH.RPAREN || c === CH.RBRACKET || c === CH.RBRACE) this.fail(`unexpected ${String.fromCharCode(c)}`);
    }
  }

  /** Reads items up to `close`; returns them and, for maps, whether each was a keyword. */
  #readSeq(close: number, keywords?: boolean[]): unknown[] {
    if (++this.#depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const items: unknown[] = [];
    for (;;) {
      const c = this.#skip();
      if (c === -1) this.fail(`unterminated collection (expected ${String.fromCharCode(close)})`);
      if (c === close) {
        this.#i++;
        this.#step(1);
        break;
      }
      if (c === CH.RPAREN || c === CH.RBRACKET || c === CH.RBRACE) this.fail(`unexpected ${String.fromCharCode(c)} (expected ${String.fromCharCode(close)})`);
      const v = this.#readForm();
      if (v === NOTHING) continue;
      items.push(v);
      keywords?.push(this.#lastWasKeyword);
    }
    this.#depth--;
    return items;
  }

  /** One form; `NOTHING` for `#_ x`, or at a closer (which it leaves unread). */
  #readForm(): unknown {
    const c = this.#skip();
    this.#lastWasKeyword = false;
    if (c === -1) this.fail('unexpected end of input');
    const s = this.#s;
    const at = this.#i;
    switch (c) {
      case CH.LBRACKET:
        this.#i++;
        return this.#readSeq(CH.RBRACKET);
      case CH.LPAREN:
        this.#i++;
        return this.#readSeq(CH.RPAREN);
      case CH.LBRACE:
        this.#i++;
        return this.#readMap(null);
      case CH.RBRACKET:
      case CH.RPAREN:
      case CH.RBRACE:
        return NOTHING;
      case CH.QUOTE:
        this.#i++;
        return this.#readString();
      case CH.BACKSLASH:
        this.#i++;
        return this.#readChar();
      case CH.HASH:
        return this.#readDispatch();
      case CH.CARET:
      case CH.BACKTICK:
      case CH.TILDE:
      case CH.AT:
        return this.fail(`'${s[at]}' is not EDN`);
      default: {
        const tok = this.#readToken();
        return this.#interpretToken(tok, at);
      }
    }
  }

  #readToken(): string {
    const s = this.#s;
    const start = this.#i;
    let i = start + 1; // the first char is never a terminator here
    while (i < s.length && !isTerminator(s.charCodeAt(i))) i++;
    this.#step(i - start);
    this.#i = i;
    return s.slice(start, i);
  }

  #interpretToken(tok: string, at: number): unknown {
    const c0 = tok.charCodeAt(0);
    if (isDigit(c0) || ((c0 === 43 || c0 === 45) && tok.length > 1 && isDigit(tok.charCodeAt(1)))) return this.#number(tok, at);
    if (c0 === CH.COLON) {
      const name = tok.slice(1);
      if (name.length === 0 || name.charCodeAt(0) === CH.COLON || name.endsWith(':') || name.includes('::') || (name.endsWith('/') && name !== '/')) {
        this.fail(`invalid keyword ${tok.slice(0, 40)}`, at);
      }
      this.#lastWasKeyword = true;
      return name;
    }
    if (tok === 'nil') return null;
    if (tok === 'true') return true;
    if (tok === 'false') return false;
    if (tok.endsWith(':') || tok.includes('::') || (tok !== '/' && (tok.endsWith('/') || tok.startsWith('/')))) {
      this.fail(`invalid symbol ${tok.slice(0, 40)}`, at);
    }
    return tok; // a symbol
  }

  #number(tok: string, at: number): number | bigint {
    this.#step(tok.length);
    // BigInt parsing is superlinear in the digits: bound them (a 4,096-digit number is plenty).
    if (tok.length > MAX_NUMBER_LENGTH) this.fail(`number longer than ${MAX_NUMBER_LENGTH} characters`, at);
    const m = INT_RE.exec(tok);
    if (m !== null) {
      const [, sign, zero, dec, hex, oct, radix, radixDigits, big] = m;
      let n: bigint;
      if (zero !== undefined) n = 0n;
      else if (dec !== undefined) n = BigInt(dec);
      else if (hex !== undefined) n = BigInt(`0x${hex}`);
      else if (oct !== undefined) n = BigInt(`0o${oct}`);
      else n = parseRadix(radixDigits ?? '', Number(radix), () => this.fail(`invalid number ${tok.slice(0, 40)}`, at));
      if (sign === '-') n = -n;
      if (big !== undefined) return n;
      return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
    }
    const r = RATIO_RE.exec(tok);
    if (r !== null) {
      const den = Number(r[2]);
      if (den === 0) this.fail('ratio with a zero denominator', at);
      return Number(r[1]) / den;
    }
    if (FLOAT_RE.test(tok)) return Number(tok.endsWith('M') ? tok.slice(0, -1) : tok);
    return this.fail(`invalid number ${tok.slice(0, 40)}`, at);
  }

  #readString(): string {
    const s = this.#s;
    const start = this.#i;
    const parts: string[] = [];
    let i = start;
    let chunk = i;
    for (;;) {
      if (i >= s.length) this.fail('unterminated string', start - 1);
      const c = s.charCodeAt(i);
      if (c === CH.QUOTE) break;
      if (c !== CH.BACKSLASH) {
        i++;
        continue;
      }
      if (i > chunk) parts.push(s.slice(chunk, i));
      const e = s.charCodeAt(i + 1);
      i += 2;
      switch (e) {
        case 116: parts.push('\t'); break; // t
        case 114: parts.push('\r'); break; // r
        case 110: parts.push('\n'); break; // n
        case 98: parts.push('\b'); break; // b
        case 102: parts.push('\f'); break; // f
        case CH.BACKSLASH: parts.push('\\'); break;
        case CH.QUOTE: parts.push('"'); break;
        case 117: { // u: exactly 4 hex digits
          const hex = s.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape', i - 2);
          parts.push(String.fromCharCode(parseInt(hex, 16)));
          i += 4;
          break;
        }
        default: {
          if (e >= 48 && e <= 55) { // octal: 1 to 3 digits, at most \377
            let j = i - 1;
            while (j < s.length && j < i + 2 && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 55) j++;
            const code = parseInt(s.slice(i - 1, j), 8);
            if (code > 0o377) this.fail('octal escape above \\377', i - 2);
            parts.push(String.fromCharCode(code));
            i = j;
            break;
          }
          this.fail(Number.isNaN(e) ? 'unterminated string' : `unsupported escape \\${String.fromCharCode(e)}`, i - 2);
        }
      }
      chunk = i;
    }
    if (i > chunk) parts.push(s.slice(chunk, i));
    this.#step(i + 1 - start);
    this.#i = i + 1;
    return parts.length === 1 ? (parts[0] as string) : parts.join('');
  }

  #readChar(): string {
    const s = this.#s;
    const at = this.#i - 1;
    if (this.#i >= s.length) this.fail('character at the end of input', at);
    // The first char is taken whatever it is (`\(`, `\ `); constituents after it extend the token.
    const start = this.#i;
    let i = start + 1;
    while (i < s.length && !isTerminator(s.charCodeAt(i))) i++;
    this.#step(i - start);
    this.#i = i;
    const tok = s.slice(start, i);
    if (tok.length === 1) return tok;
    const named = NAMED_CHARS[tok];
    if (named !== undefined && Object.prototype.hasOwnProperty.call(NAMED_CHARS, tok)) return named;
    if (/^u[0-9a-fA-F]{4}$/.test(tok)) return String.fromCharCode(parseInt(tok.slice(1), 16));
    if (/^o[0-7]{1,3}$/.test(tok)) {
      const code = parseInt(tok.slice(1), 8);
      if (code <= 0o377) return String.fromCharCode(code);
    }
    return this.fail(`unsupported character \\${tok.slice(0, 20)}`, at);
  }

  #readMap(ns: string | null): Record<string, unknown> | Map<unknown, unknown> {
    const at = this.#i - 1;
    const kws: boolean[] = [];
    const items = this.#readSeq(CH.RBRACE, kws);
    if (items.length % 2 !== 0) this.fail('map with an odd number of forms', at);
    const keys: unknown[] = [];
    const keyIsKeyword: boolean[] = [];
    const values: unknown[] = [];
    for (let i = 0; i < items.length; i += 2) {
      let k = items[i];
      const isKw = kws[i] === true;
      if (ns !== null && isKw && typeof k === 'string') {
        if (k.startsWith('_/')) k = k.slice(2);
        else if (!k.includes('/')) k = `${ns}/${k}`;
      }
      keys.push(k);
      keyIsKeyword.push(isKw);
      values.push(items[i + 1]);
    }
    this.#step(items.length);
    return buildMap(keys, keyIsKeyword, values, (k) => new ChskError('protocol/bad-frame', `EDN: duplicate map key ${String(k).slice(0, 40)} in the map at offset ${at}`));
  }

  #readDispatch(): unknown {
    const s = this.#s;
    const at = this.#i;
    const c = s.charCodeAt(at + 1);
    this.#i += 2;
    switch (c) {
      case CH.LBRACE: {
        const items = this.#readSeq(CH.RBRACE);
        const set = new Set<unknown>(items);
        if (set.size !== items.length) this.fail('duplicate set element', at);
        return set;
      }
      case CH.UNDERSCORE:
        if (++this.#depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
        this.#readValue();
        this.#depth--;
        return NOTHING;
      case CH.HASH: {
        const tok = this.#i < s.length && !isTerminator(s.charCodeAt(this.#i)) ? this.#readToken() : '';
        if (tok === 'Inf') return Infinity;
        if (tok === '-Inf') return -Infinity;
        if (tok === 'NaN') return NaN;
        return this.fail(`unknown symbolic value ##${tok.slice(0, 20)}`, at);
      }
      case CH.COLON: {
        const tok = this.#i < s.length && !isTerminator(s.charCodeAt(this.#i)) ? this.#readToken() : '';
        if (tok === '' || tok.startsWith(':') || tok.includes('/')) this.fail('invalid namespaced map prefix', at);
        if (this.#skip() !== CH.LBRACE) this.fail('namespaced map without {', at);
        this.#i++;
        return this.#readMap(tok);
      }
      default: {
        if (Number.isNaN(c) || isTerminator(c) || isDigit(c)) this.fail(`unsupported dispatch #${Number.isNaN(c) ? '' : String.fromCharCode(c)}`, at);
        this.#i = at + 1;
        const tag = this.#readToken();
        if (++this.#depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
        const v = this.#readValue();
        this.#depth--;
        this.#lastWasKeyword = false;
        if (tag === 'inst') return this.#inst(v, at);
        if (tag === 'uuid') {
          if (typeof v !== 'string' || !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(v)) this.fail('invalid #uuid', at);
          return new Uuid(v);
        }
        return this.fail(`no reader for tag #${tag.slice(0, 40)}`, at);
      }
    }
  }

  #inst(v: unknown, at: number): Date {
    if (typeof v !== 'string' || v.length > 64) return this.fail('#inst needs an RFC 3339 string', at);
    const m = INST_RE.exec(v);
    if (m === null) return this.fail(`invalid #inst ${v}`, at);
    const [, y, mo = '1', d = '1', h = '0', mi = '0', sec = '0', frac = '', sign, oh = '0', om = '0'] = m;
    const month = Number(mo);
    const day = Number(d);
    if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 60 || Number(oh) > 23 || Number(om) > 59) {
      this.fail(`invalid #inst ${v}`, at);
    }
    const ms = frac === '' ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
    const offsetMin = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
    const date = new Date(0);
    date.setUTCFullYear(Number(y), month - 1, day);
    date.setUTCHours(Number(h), Number(mi), Number(sec), ms);
    return new Date(date.getTime() - offsetMin * 60_000);
  }
}

function parseRadix(digits: string, radix: number, fail: () => never): bigint {
  if (radix < 2 || radix > 36) fail();
  let n = 0n;
  const r = BigInt(radix);
  for (const ch of digits.toLowerCase()) {
    const d = parseInt(ch, 36);
    if (d >= radix) fail();
    n = n * r + BigInt(d);
  }
  return n;
}

/** Reads one EDN value (the whole text); throws a `ChskError` `protocol/bad-frame` on malformed input. */
export function readEdn(text: string, stats?: ReadStats): unknown {
  return new Reader(text, stats).readTop();
}
