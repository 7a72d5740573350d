import { ChskError, isChskError } from '@sente-rx/core';
import { describe, expect, it } from 'vitest';
import { ednPacker } from '../src/edn.js';
import { readEdn, type ReadStats } from '../src/edn-reader.js';
import { writeEdn } from '../src/edn-writer.js';
import { Uuid } from '../src/shape.js';
import { WIRE_VECTORS } from './vectors.js';

const badFrame = (text: string): void => {
  let err: unknown;
  try {
    readEdn(text);
  } catch (e) {
    err = e;
  }
  expect(isChskError(err, 'protocol/bad-frame'), `expected bad-frame for ${text.slice(0, 60)}`).toBe(true);
};

describe('ednPacker on the frames of a real Sente v1.21 server', () => {
  for (const v of WIRE_VECTORS) {
    it(`${v.direction} ${v.name}: reads to the documented value and packs back by kind`, () => {
      const read = ednPacker.unpack(v.frame);
      expect(read).toEqual(v.value);
      expect(ednPacker.pack(read, v.kind)).toBe(v.repacked ?? v.frame);
      // bytes read as the text does
      expect(ednPacker.unpack(new TextEncoder().encode(v.frame))).toEqual(v.value);
    });
  }

  it('is a text packer of a Sente format', () => {
    expect(ednPacker.binary).toBe(false);
    expect(ednPacker.senteFormat).toBe(true);
  });
});

describe('EDN reader', () => {
  it('reads every string escape Clojure prints, octal and \\u escapes', () => {
    expect(readEdn('"a\\bb\\fc\\nd\\te\\rf\\"g\\\\h\\u00e9\\u0000\\101\\0"')).toBe('a\bb\fc\nd\te\rf"g\\h\u00e9\u0000A\u0000');
    expect(readEdn('"raw é 😀\nline"')).toBe('raw é 😀\nline');
  });

  it('reads characters as 1-char strings', () => {
    expect(readEdn('[\\a \\newline \\space \\tab \\backspace \\formfeed \\return \\u00e9 \\o101 \\( \\\\]')).toEqual(['a', '\n', ' ', '\t', '\b', '\f', '\r', 'é', 'A', '(', '\\']);
  });

  it('reads numbers: safe integers, big integers, N, M, ratios, hex, octal, radix, symbolic values', () => {
    expect(readEdn('[0 -7 +3 9007199254740991 9007199254740992 -9007199254740993 7N 1.5 -2.5e3 1E2 1.5M 1/4 -3/2 0x1F 017 2r101 36rZ ##Inf ##-Inf ##NaN]')).toEqual([
      0, -7, 3, 9007199254740991, 9007199254740992n, -9007199254740993n, 7n, 1.5, -2500, 100, 1.5, 0.25, -1.5, 31, 15, 5, 35, Infinity, -Infinity, NaN,
    ]);
  });

  it('reads keywords and symbols as strings, nil/true/false, lists as arrays', () => {
    expect(readEdn('(:a :ns/b sym ns/sym nil true false / :/ +)')).toEqual(['a', 'ns/b', 'sym', 'ns/sym', null, true, false, '/', '/', '+']);
  });

  it('skips comments, commas and #_ discards (nested too)', () => {
    expect(readEdn('; lead\n[1,,2 #_ 3 #_ #_ 4 5 6 ; tail\n ,7] ; end')).toEqual([1, 2, 6, 7]);
    expect(readEdn('{:a 1 #_ :b #_ 2}')).toEqual({ a: 1 });
    expect(readEdn('#_ [dropped] 42')).toBe(42);
  });

  it('reads sets, #inst in every RFC 3339 form and #uuid', () => {
    expect(readEdn('#{1 :a "b"}')).toEqual(new Set([1, 'a', 'b']));
    expect(readEdn('[#inst "2020-01-02T03:04:05.678-00:00" #inst "2020-01-02T03:04:05.678Z" #inst "2020-01-02T04:04:05.678+01:00" #inst "2020" #inst "2020-03" #inst "2020-01-02T03:04:05.123456789Z"]')).toEqual([
      new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 678)),
      new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 678)),
      new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 678)),
      new Date(Date.UTC(2020, 0, 1)),
      new Date(Date.UTC(2020, 2, 1)),
      new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 123)),
    ]);
    const u = readEdn('#uuid "6F1C2B1E-0000-4000-8000-000000000001"');
    expect(u).toBeInstanceOf(Uuid);
    expect(String(u)).toBe('6f1c2b1e-0000-4000-8000-000000000001');
  });

  it('maps: keyword keys → object; a string key that could be a keyword, or a non-string key → Map; namespaced maps', () => {
    expect(readEdn('{:a 1, :b/c 2, "not a kw" 3}')).toEqual({ a: 1, 'b/c': 2, 'not a kw': 3 });
    expect(readEdn('{"a" 1 :b 2}')).toEqual(new Map<unknown, unknown>([['a', 1], ['b', 2]]));
    expect(readEdn('{1 2 [3] 4 nil 5}')).toEqual(new Map<unknown, unknown>([[1, 2], [[3], 4], [null, 5]]));
    expect(readEdn('#:user{:a 1 :_/b 2 :other/c 3 "s" 4}')).toEqual(new Map<unknown, unknown>([['user/a', 1], ['b', 2], ['other/c', 3], ['s', 4]]));
    expect(readEdn('#:user {:a 1}')).toEqual({ 'user/a': 1 });
  });

  it('never lets a __proto__ key reach a prototype', () => {
    const v = readEdn('{:__proto__ {:polluted true} :constructor 1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((v as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('throws protocol/bad-frame on malformed input', () => {
    for (const bad of [
      '', '   ', '[1 2', '[1 2))', '{:a}', '{:a 1 :a 2}', '#{1 1}', '"unterminated', '"bad \\x escape"', '"\\u12"',
      '#foo 1', '#inst "yesterday"', '#inst 5', '#uuid "nope"', '1 2', '::auto', ':', 'a:', '##Foo', '#', '#_', '[#_]',
      '12abc', '1/0', '\\', '\\bogus', '^:meta x', '`x', '~x', '@x', '#:ns[1]', '#"re"', '(', ')', '"\\400"',
      '['.repeat(1001) + ']'.repeat(1001), `${'9'.repeat(4097)}`,
    ]) badFrame(bad);
  });

  it('fails on a 1 MiB malformed frame, with work linear in its size (counted reader steps)', () => {
    const MiB = 1 << 20;
    const shapes: ((n: number) => string)[] = [
      (n) => `"${'a'.repeat(n)}`, // unterminated string
      (n) => `[${'1 '.repeat(n / 2)}`, // unclosed vector
      (n) => `{${':a 1 '.repeat(n / 5)}:b}`, // odd map, duplicate keys first
      (n) => `[${'"x\\n" '.repeat(n / 6)}\\bogus]`, // escapes, then a bad character
      (n) => `${'['.repeat(n)}`, // too deep
      (n) => `[${'#_ '.repeat(n / 3)}]`, // discards of nothing
      (n) => `[${'abc'.repeat(n / 3)}:]`, // one long symbol, then a bad keyword
    ];
    for (const make of shapes) {
      const steps = (n: number): number => {
        const stats: ReadStats = { steps: 0 };
        expect(() => readEdn(make(n), stats)).toThrow(ChskError);
        return stats.steps;
      };
      const half = steps(MiB / 2);
      const full = steps(MiB);
      expect(full).toBeLessThanOrEqual(4 * MiB);
      expect(full / Math.max(half, 1)).toBeLessThan(2.2);
    }
  });
});

describe('EDN writer', () => {
  it('writes as pr-str: ", " between map entries, escapes, raw non-ASCII', () => {
    expect(writeEdn({ a: 1, 'b/c': 'x', 'not kw': [1, 2], '1a': null })).toBe('{:a 1, :b/c "x", "not kw" [1 2], "1a" nil}');
    expect(writeEdn('q"\\\n\t\r\b\f\u0001é😀\ud800')).toBe('"q\\"\\\\\\n\\t\\r\\b\\f\\u0001é😀\\ud800"');
  });

  it('writes numbers so each reads back as its type', () => {
    expect(writeEdn([1, -0, 1.5, 2 ** 60, 1e21, 1e-7, NaN, Infinity, -Infinity, 5n, -(2n ** 70n)])).toBe(
      `[1 -0.0 1.5 1152921504606847000.0 1e+21 1e-7 ##NaN ##Inf ##-Inf 5N -${2n ** 70n}N]`,
    );
  });

  it('writes sets, Maps, dates and uuids, and leaves out undefined properties', () => {
    expect(writeEdn([new Set([1, 'a']), new Map<unknown, unknown>([[1, 'x'], ['k', [2]]]), new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 678)), new Uuid('6f1c2b1e-0000-4000-8000-000000000001'), { a: undefined, b: true }])).toBe(
      '[#{1 "a"} {1 "x", "k" [2]} #inst "2020-01-02T03:04:05.678-00:00" #uuid "6f1c2b1e-0000-4000-8000-000000000001" {:b true}]',
    );
  });

  it('writes keywords only where the envelope kind puts them', () => {
    expect(ednPacker.pack(['chsk/ws-ping', null], 'reply')).toBe('["chsk/ws-ping" nil]');
    expect(ednPacker.pack(['chsk/error', 'cb1'], 'error')).toBe('[:chsk/error "cb1"]');
    expect(ednPacker.pack(['chsk/closed', null], 'closed')).toBe('[:chsk/closed nil]');
    expect(ednPacker.pack([['chsk/handshake', ['u', null, { a: 'chsk/x' }, true]], null], 'handshake')).toBe('[[:chsk/handshake ["u" nil {:a "chsk/x"} true]] nil]');
    expect(ednPacker.pack([['bad id', 1], 'ajax'], 'ajax-event')).toBe('[["bad id" 1] :ajax]');
    expect(ednPacker.pack([['a/b', 'c/d'], 'ajax'], 'client-event')).toBe('[[:a/b "c/d"] "ajax"]');
    expect(ednPacker.pack([['a/b', 'c/d'], null])).toBe('[["a/b" "c/d"] nil]');
  });

  it('throws protocol/unsupported-data for what EDN cannot hold, and for cycles', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    for (const bad of [() => 1, Symbol('s'), new Date(NaN), new Uint8Array(1), new (class Foo {})(), cyclic]) {
      let err: unknown;
      try {
        writeEdn(bad);
      } catch (e) {
        err = e;
      }
      expect(isChskError(err, 'protocol/unsupported-data')).toBe(true);
    }
  });
});
