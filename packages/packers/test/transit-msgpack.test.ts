import { isChskError } from '@sente-rx/core';
import { describe, expect, it } from 'vitest';
import { msgpackPacker } from '../src/msgpack.js';
import { transitPacker } from '../src/transit.js';

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return isChskError(e) ? e.code : 'other';
  }
  return undefined;
};

describe('transitPacker', () => {
  it('writes Sente-shaped envelopes with keywords by kind, and objects with keyword keys', () => {
    expect(transitPacker.pack([[['test/push', { i: 0 }]], null], 'server-batch')).toBe('[[["~:test/push",["^ ","~:i",0]]],null]');
    expect(transitPacker.pack(['chsk/ws-ping', null], 'ws-ping')).toBe('["~:chsk/ws-ping",null]');
    expect(transitPacker.pack([['a/b', 'c/d'], 'ajax'], 'ajax-event')).toBe('[["~:a/b","c/d"],"~:ajax"]');
  });

  it('reads what a Clojure transit writer sends: cached keys, ~i longs, ~n, ~f, ratios, sets, lists, symbols, chars', () => {
    expect(
      transitPacker.unpack('[["^ ","~:name",1,"~:b",["~#set",["~:x"]]],["^ ","^0",2],["~#list",[1]],"~i9007199254740993","~n5","~f1.5",["~#ratio",["~n1","~n4"]],"~$sym","~cq","~m1577934245678","~u6f1c2b1e-0000-4000-8000-000000000001","~zNaN"]'),
    ).toEqual([{ name: 1, b: new Set(['x']) }, { name: 2 }, [1], 9007199254740993n, 5n, 1.5, 0.25, 'sym', 'q', new Date(1577934245678), expect.anything(), NaN]);
  });

  it('throws protocol/bad-frame on malformed JSON, unknown tags and cache misses, and keeps __proto__ an own key', () => {
    for (const bad of ['[1,', '["~#foo",1]', '["^5"]', '"~xabc"', '["^ ","~:a",1,"~:a",2]', '', new Uint8Array([0xff])]) {
      expect(code(() => transitPacker.unpack(bad))).toBe('protocol/bad-frame');
    }
    const v = transitPacker.unpack('["^ ","~:__proto__",["^ ","~:polluted",true]]') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('msgpackPacker', () => {
  it('is binary, ignores the kind, and throws protocol/bad-frame on malformed bytes or text', () => {
    expect(msgpackPacker.binary).toBe(true);
    expect(msgpackPacker.pack(['chsk/ws-ping', null], 'ws-ping')).toEqual(msgpackPacker.pack(['chsk/ws-ping', null]));
    for (const bad of [new Uint8Array([0x92, 0x01]), new Uint8Array([0xc1]), new Uint8Array([0x01, 0x02]), '[1]']) {
      expect(code(() => msgpackPacker.unpack(bad))).toBe('protocol/bad-frame');
    }
    expect(code(() => msgpackPacker.pack(() => 1))).toBe('protocol/unsupported-data');
  });

  it('fails on a 1 MiB truncated frame', () => {
    const big = msgpackPacker.pack(Array.from({ length: 1 << 17 }, (_, i) => `string number ${i}`));
    expect(big.length).toBeGreaterThan(1 << 20);
    expect(code(() => msgpackPacker.unpack(big.subarray(0, big.length - 1)))).toBe('protocol/bad-frame');
  });
});
