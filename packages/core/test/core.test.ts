import { describe, expect, it } from 'vitest';
import {
  asEvent,
  assertEvent,
  backoffMs,
  ChskError,
  isChskError,
  isEvent,
  jsonPacker,
  NIL_UID,
  classifyClientMessage,
  parseClientMessage,
  parseEnvelope,
  parseServerMessage,
  randomUuid,
  replyCbId,
  validateEvent,
} from '@sente-rx/core';

describe('validateEvent (Sente validate-event)', () => {
  it.each([
    [['a/b'], undefined],
    [['a/b', { x: 1 }], undefined],
    [['a.b.c/d-e', null], undefined],
    ['a/b', 'wrong-type'],
    [{ 0: 'a/b' }, 'wrong-type'],
    [[], 'wrong-length'],
    [['a/b', 1, 2], 'wrong-length'],
    [[1, 2], 'wrong-id-type'],
    [['ab'], 'unnamespaced-id'],
    [['/b'], 'unnamespaced-id'],
    [['a/'], 'unnamespaced-id'],
    [['a b/c'], 'unnamespaced-id'],
  ])('%j → %s', (x, problem) => {
    expect(validateEvent(x)).toBe(problem);
    expect(isEvent(x)).toBe(problem === undefined);
  });

  it('assertEvent throws a TypeError naming the problem', () => {
    expect(() => assertEvent(['nope'])).toThrow(/unnamespaced-id/);
    expect(() => assertEvent(['a/b'])).not.toThrow();
  });

  it('asEvent wraps invalid values as chsk/bad-event', () => {
    expect(asEvent(['a/b', 1])).toEqual(['a/b', 1]);
    expect(asEvent(42)).toEqual(['chsk/bad-event', 42]);
  });
});

describe('envelope', () => {
  it('rejects what is not [payload, cbId|null]', () => {
    expect(parseEnvelope('x').ok).toBe(false);
    expect(parseEnvelope([1]).ok).toBe(false);
    expect(parseEnvelope([1, 2]).ok).toBe(false);
    expect(parseEnvelope([1, '']).ok).toBe(false);
    expect(parseEnvelope([1, 'x'.repeat(65)]).ok).toBe(false);
    expect(parseEnvelope([1, null])).toEqual({ ok: true, value: [1, null] });
  });

  it('classifies server messages', () => {
    // Sente's layout [uid, _, handshakeData, first?]
    expect(parseServerMessage([['chsk/handshake', ['u', null, { a: 1 }, true]], null])).toEqual({
      ok: true,
      value: { kind: 'handshake', uid: 'u', handshakeData: { a: 1 }, first: true },
    });
    expect(parseServerMessage([['chsk/handshake', ['u', null, { a: 1 }]], null])).toEqual({
      ok: true,
      value: { kind: 'handshake', uid: 'u', handshakeData: { a: 1 }, first: false },
    });
    // Sente allows any uid (#233): nil is NIL_UID, numbers and other values become text
    const uidOf = (uid: unknown): unknown => {
      const m = parseServerMessage([['chsk/handshake', [uid, null, null]], null]);
      return m.ok && m.value.kind === 'handshake' ? m.value.uid : m;
    };
    expect(uidOf('sente/nil-uid')).toBe(NIL_UID);
    expect(uidOf(null)).toBe(NIL_UID);
    expect(uidOf(42)).toBe('42');
    expect(uidOf(12345678901234567890n)).toBe('12345678901234567890');
    expect(uidOf(['a', 1])).toBe('["a",1]');
    expect(parseServerMessage([['chsk/handshake', []], null]).ok).toBe(false);
    expect(parseServerMessage(['chsk/ws-ping', null])).toEqual({ ok: true, value: { kind: 'ping' } });
    expect(parseServerMessage(['chsk/timeout', null])).toEqual({ ok: true, value: { kind: 'lp-timeout' } });
    expect(parseServerMessage([{ r: 1 }, 'c1'])).toEqual({ ok: true, value: { kind: 'reply', cbId: 'c1', value: { r: 1 } } });
    expect(parseServerMessage([[['a/b', 1], 'junk'], null])).toEqual({
      ok: true,
      value: { kind: 'batch', events: [['a/b', 1], ['chsk/bad-event', 'junk']] },
    });
    expect(parseServerMessage([['chsk/handshake', 'bad'], null]).ok).toBe(false);
    expect(parseServerMessage([42, null]).ok).toBe(false);
  });

  it('replyCbId finds a reply exactly where parseServerMessage classifies one', () => {
    const cases: unknown[] = [
      [{ r: 1 }, 'c1'],
      ['chsk/closed', 'k'],
      [null, 'x'.repeat(64)],
      [null, 'x'.repeat(65)], // cbId too long: not an envelope
      [1, ''], // empty cbId
      [1, 7], // cbId not a string
      [[['a/b']], null],
      ['chsk/ws-ping', null],
      [1, 'c', 'extra'],
      ['c'],
      'c',
      null,
    ];
    for (const x of cases) {
      const m = parseServerMessage(x);
      expect(replyCbId(x)).toBe(m.ok && m.value.kind === 'reply' ? m.value.cbId : undefined);
    }
    expect(replyCbId([{ r: 1 }, 'c1'])).toBe('c1');
    expect(replyCbId([null, 'x'.repeat(65)])).toBeUndefined();
  });

  it('takes a 1-element [event] from a client as [event, null] (Sente accepts it)', () => {
    expect(parseClientMessage([['a/b', 1]])).toEqual({ ok: true, value: { event: ['a/b', 1], cbId: null } });
    expect(classifyClientMessage([['chsk/ws-pong']])).toEqual({ kind: 'pong', event: ['chsk/ws-pong'], cbId: null });
    expect(classifyClientMessage([42])).toEqual({ kind: 'bad-event', reason: expect.any(String), cbId: null });
    expect(classifyClientMessage([]).kind).toBe('not-an-envelope');
  });

  it('classifies client messages, keeping the cbId of an invalid event', () => {
    expect(parseClientMessage([['a/b', 1], 'x'])).toEqual({ ok: true, value: { event: ['a/b', 1], cbId: 'x' } });
    const bad = parseClientMessage([['nope'], 'x']);
    expect(bad.ok).toBe(false);
    expect(bad.cbId).toBe('x');
    const notEnvelope = parseClientMessage({});
    expect(notEnvelope.ok).toBe(false);
    expect(notEnvelope.cbId).toBeUndefined();
  });

  it('classifyClientMessage decides what a client message is, once, for every server', () => {
    expect(classifyClientMessage({})).toEqual({ kind: 'not-an-envelope', reason: expect.stringMatching(/2-element array/) });
    expect(classifyClientMessage([['a/b'], 'way too long'.repeat(10)]).kind).toBe('not-an-envelope');
    expect(classifyClientMessage([['nope'], 'x'])).toEqual({ kind: 'bad-event', reason: expect.stringMatching(/namespaced/), cbId: 'x' });
    expect(classifyClientMessage([42, null])).toEqual({ kind: 'bad-event', reason: expect.any(String), cbId: null });
    expect(classifyClientMessage([['chsk/ws-ping'], 'c'])).toEqual({ kind: 'ping', event: ['chsk/ws-ping'], cbId: 'c' });
    expect(classifyClientMessage([['chsk/ws-pong'], null])).toEqual({ kind: 'pong', event: ['chsk/ws-pong'], cbId: null });
    expect(classifyClientMessage([['chsk/handshake', 1], 'c'])).toEqual({
      kind: 'bad-event',
      reason: 'reserved event id chsk/handshake',
      cbId: 'c',
      event: ['chsk/handshake', 1],
    });
    expect(classifyClientMessage([['a/b', { n: 1 }], null])).toEqual({ kind: 'event', event: ['a/b', { n: 1 }], cbId: null });
  });

  it('the JSON packer refuses what JSON cannot carry', () => {
    expect(() => jsonPacker.pack(undefined)).toThrow(ChskError);
    expect(() => jsonPacker.unpack('{')).toThrow(SyntaxError);
    expect(() => jsonPacker.unpack(new Uint8Array([0xff, 0xfe]))).toThrow();
  });
});

describe('randomUuid', () => {
  const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('is a v4 UUID, also without crypto.randomUUID (plain-http pages): from getRandomValues, byte for byte', () => {
    expect(randomUuid()).toMatch(V4);
    const real = globalThis.crypto;
    const bytes = Array.from({ length: 16 }, (_, i) => (i * 17 + 255) % 256); // 0xff, 0x10, 0x21, …
    const fake = { getRandomValues: <T extends Uint8Array>(b: T): T => (b.set(bytes), b) };
    Object.defineProperty(globalThis, 'crypto', { value: fake, configurable: true });
    try {
      expect(randomUuid()).toBe('ff102132-4354-4576-8798-a9bacbdcedfe');
    } finally {
      Object.defineProperty(globalThis, 'crypto', { value: real, configurable: true });
    }
  });
});

describe('ChskError', () => {
  it('is an Error with a code, and instanceof survives a second copy of the class', () => {
    const e = new ChskError('chsk/timeout', 'late', { cause: 'x' });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('chsk/timeout');
    expect(e.cause).toBe('x');
    expect(isChskError(e, 'chsk/timeout')).toBe(true);
    expect(isChskError(e, 'chsk/closed')).toBe(false);
    // A structurally branded object from "another copy" of the package.
    const foreign = Object.defineProperty(new Error('x'), Symbol.for('sente-rx/ChskError'), { value: true });
    expect(foreign instanceof ChskError).toBe(true);
    expect(new Error('plain') instanceof ChskError).toBe(false);
  });
});

describe('backoffMs (capped full jitter)', () => {
  it('retries at once first, then draws below a doubling ceiling capped at maxMs', () => {
    const top = (attempt: number): number => backoffMs(attempt, { random: () => 0.999999 });
    expect(backoffMs(1, { random: () => 0.99 })).toBe(0);
    expect(top(2)).toBe(1999);
    expect(top(3)).toBe(3999);
    expect(top(5)).toBe(15_999);
    expect(top(6)).toBe(29_999);
    expect(top(60)).toBe(29_999);
    expect(top(10_000)).toBe(29_999);
    expect(backoffMs(4, { random: () => 0 })).toBe(0);
    expect(backoffMs(3, { baseMs: 10, maxMs: 25, random: () => 0.5 })).toBe(12);
  });
});
