import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type ChskEvent,
  decodePosition,
  encodePosition,
  type EventPosition,
  handshakeEnvelope,
  initialState,
  jsonPacker,
  onHandshake,
  type Position,
  parseServerMessage,
  positionMarker,
  readPositionMarker,
  readPositionQuery,
  splitHandshakeRecovery,
} from '@sente-rx/core';

const epoch = fc.stringMatching(/^[a-z0-9.]{1,20}$/).filter((e) => !e.startsWith('.') || e.length > 1);
const seq = fc.nat({ max: 2 ** 40 });
const position: fc.Arbitrary<Position> = fc.record({ epoch, u: seq, g: seq });

describe('position text', () => {
  it('decode(encode(p)) is p, dots in the epoch included (property)', () => {
    fc.assert(
      fc.property(position, (p) => {
        expect(decodePosition(encodePosition(p))).toEqual(p);
      }),
    );
  });

  it('refuses what is not a position, never throws', () => {
    for (const s of ['', 'abc', '.1.2', 'e.1', 'e.1.-2', 'e.01.2', 'e.1.2x', 'e..2', `${'x'.repeat(129)}.1.2`, 'e.1.99999999999999999']) {
      expect(decodePosition(s), s).toBeUndefined();
    }
    expect(decodePosition(42)).toBeUndefined();
    expect(decodePosition('a.b.7.0')).toEqual({ epoch: 'a.b', u: 7, g: 0 });
  });

  it('reads the pos query parameter', () => {
    expect(readPositionQuery(null)).toEqual({ kind: 'absent' });
    expect(readPositionQuery('')).toEqual({ kind: 'none' });
    expect(readPositionQuery('e.3.4')).toEqual({ kind: 'position', position: { epoch: 'e', u: 3, g: 4 } });
    expect(readPositionQuery('nonsense')).toEqual({ kind: 'invalid' });
  });
});

const eventPosition: fc.Arbitrary<EventPosition> = fc.oneof(
  fc.record({ stream: fc.constantFrom('u' as const, 'g' as const), seq: fc.integer({ min: 1, max: 10_000 }) }),
  fc.constant({ stream: 'u' as const, seq: 0 }),
);
/** Mostly consecutive runs, so the run compression is exercised. */
const positions = fc
  .array(fc.tuple(eventPosition, fc.integer({ min: 1, max: 6 })), { maxLength: 12 })
  .map((runs) => runs.flatMap(([p, n]) => Array.from({ length: n }, (_, k) => (p.seq === 0 ? p : { stream: p.stream, seq: p.seq + k }))));

describe('batch marker', () => {
  it('reads back the positions it was made from, through JSON (property)', () => {
    fc.assert(
      fc.property(epoch, positions, (e, ps) => {
        const events: ChskEvent[] = ps.map((_, i) => ['a/x', i]);
        const wire = jsonPacker.unpack(jsonPacker.pack([positionMarker(e, ps), ...events])) as ChskEvent[];
        const read = readPositionMarker(wire);
        expect(read).toEqual({ epoch: e, positions: ps, events });
      }),
    );
  });

  it('compresses consecutive runs', () => {
    const ps: EventPosition[] = [...Array.from({ length: 100 }, (_, i) => ({ stream: 'u' as const, seq: 17 + i })), { stream: 'g', seq: 4 }, { stream: 'u', seq: 0 }];
    expect(positionMarker('ep', ps)).toEqual(['chsk/pos', ['ep', [17, 100], -4, 0]]);
    const g: EventPosition[] = [3, 4, 5].map((s) => ({ stream: 'g', seq: s }));
    expect(positionMarker('ep', g)).toEqual(['chsk/pos', ['ep', [-3, 3]]]);
  });

  it('no marker: undefined; a marker that does not describe the batch: malformed, entries kept', () => {
    expect(readPositionMarker([['a/x']])).toBeUndefined();
    expect(readPositionMarker([])).toBeUndefined();
    for (const data of [null, ['ep', 1, 2], ['ep'], ['ep', 'x'], ['', 1], ['ep', [1, 0]], ['ep', [1, 5]], ['ep', 1.5]]) {
      const r = readPositionMarker([['chsk/pos', data], ['a/x']]);
      expect(r && 'malformed' in r, JSON.stringify(data)).toBe(true);
      expect(r?.events).toEqual([['a/x']]);
    }
  });
});

describe('handshake recovery element', () => {
  const pos: Position = { epoch: 'e.1', u: 5, g: 2 };

  it('travels last and parses back, with and without recovered', () => {
    for (const recovered of [true, false, undefined]) {
      const r = recovered === undefined ? { position: pos } : { position: pos, recovered };
      const env = jsonPacker.unpack(jsonPacker.pack(handshakeEnvelope('alice', { motd: 'hi' }, false, r)));
      const msg = parseServerMessage(env);
      expect(msg).toEqual({ ok: true, value: { kind: 'handshake', uid: 'alice', handshakeData: { motd: 'hi' }, first: false, recovery: r } });
    }
  });

  it('is absent for a client without recovery: the v1 handshake, unchanged', () => {
    expect(handshakeEnvelope('alice', null, true)).toEqual([['chsk/handshake', ['alice', null, null, true]], null]);
    const msg = parseServerMessage([['chsk/handshake', ['alice', null, null, true]], null]);
    expect(msg.ok && msg.value.kind === 'handshake' && 'recovery' in msg.value).toBe(false);
  });

  it('is recognised only as the 5th element, after a boolean first', () => {
    const el = ['chsk/recovery', { pos: 'e.1.5.2', recovered: true }];
    expect(splitHandshakeRecovery(['u', null, 'hd', true, el])).toEqual({ rest: ['u', null, 'hd', true], recovery: { position: pos, recovered: true } });
    // handshake data that merely looks like the element: untouched
    expect(splitHandshakeRecovery(['u', null, el])).toEqual({ rest: ['u', null, el] });
    expect(splitHandshakeRecovery(['u', null, 'hd', el])).toEqual({ rest: ['u', null, 'hd', el] });
    // a malformed element is dropped, not delivered as handshake data
    expect(splitHandshakeRecovery(['u', null, 'hd', true, ['chsk/recovery', { pos: 'bad' }]])).toEqual({ rest: ['u', null, 'hd', true] });
  });

  it('state.recovered follows each handshake and is absent after one without it', () => {
    const s0 = initialState('ws');
    const s1 = onHandshake(s0, { type: 'ws', uid: 'u', handshakeData: null });
    expect('recovered' in s1).toBe(false);
    const s2 = onHandshake(s1, { type: 'ws', uid: 'u', handshakeData: null, recovered: false });
    expect(s2.recovered).toBe(false);
    const s3 = onHandshake(s2, { type: 'ws', uid: 'u', handshakeData: null });
    expect('recovered' in s3).toBe(false);
  });
});
