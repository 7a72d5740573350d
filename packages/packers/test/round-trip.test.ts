import { ENVELOPE_KINDS, type EnvelopeKind, type Packer } from '@sente-rx/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ednPacker } from '../src/edn.js';
import { msgpackPacker } from '../src/msgpack.js';
import { transitPacker } from '../src/transit.js';
import { Uuid } from '../src/shape.js';
import { WIRE_VECTORS } from './vectors.js';

interface Profile {
  readonly packer: Packer;
  /** Transit's JSON has no -0; msgpack's integers stop at 64 bits. */
  readonly negativeZero: boolean;
  readonly bigintBits: number;
}

const PROFILES: Record<string, Profile> = {
  edn: { packer: ednPacker, negativeZero: true, bigintBits: 200 },
  transit: { packer: transitPacker, negativeZero: false, bigintBits: 200 },
  msgpack: { packer: msgpackPacker, negativeZero: false, bigintBits: 63 },
};

const SAFE = 2n ** 53n;

/** The JS values every packer carries exactly (the shapes the EDN rules name). */
function values(p: Profile): fc.Arbitrary<unknown> {
  const big = fc.bigInt({ min: -(2n ** BigInt(p.bigintBits)), max: 2n ** BigInt(p.bigintBits) - 1n }).filter((n) => n >= SAFE || n < -SAFE);
  const dbl = fc.double().filter((d) => p.negativeZero || !Object.is(d, -0));
  const leaf = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    dbl,
    p.packer === msgpackPacker ? fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) : big,
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom('chsk/ws-ping', 'chat/msg', 'sente/nil-uid', 'a b', '~tilde', '^ caret', '`tick', ':colon'),
    fc.date({ min: new Date(Date.UTC(1, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }),
    fc.uuid().map((u) => new Uuid(u)),
  );
  const key = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('a', 'ns/k', 'a b', '1a', 'é', '_', '+', '-1'))
    .filter((k) => k !== '__proto__');
  return fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('arr'), tie('obj'), tie('set'), tie('map')),
    arr: fc.array(tie('v'), { maxLength: 5 }),
    obj: fc.dictionary(key, tie('v'), { maxKeys: 5 }),
    set: fc.uniqueArray(fc.oneof(fc.integer(), fc.string({ maxLength: 6 })), { maxLength: 5 }).map((xs) => new Set<unknown>(xs)),
    // Maps with non-string keys: a Map of only non-keyword string keys reads back as an object.
    map: fc.uniqueArray(fc.tuple(fc.integer(), tie('v')), { maxLength: 4, selector: ([k]) => k }).filter((kv) => kv.length > 0).map((kv) => new Map<unknown, unknown>(kv)),
  })).v;
}

const eventId = fc.oneof(fc.constantFrom('chat/msg', 'chsk/ws-ping', 'chsk/ws-pong', 'a/b', 'nonamespace'), fc.string({ maxLength: 10 }));
const cbId = fc.oneof(fc.constant(null), fc.string({ minLength: 1, maxLength: 8 }));

/** An envelope of each kind, with arbitrary user data in its data slots. */
function envelopeOf(kind: EnvelopeKind, data: fc.Arbitrary<unknown>): fc.Arbitrary<unknown[]> {
  const event = fc.oneof(fc.tuple(eventId), fc.tuple(eventId, data));
  switch (kind) {
    case 'client-event':
      return fc.oneof(fc.tuple(event, cbId), fc.tuple(event));
    case 'ajax-event':
      return fc.tuple(event, fc.constantFrom<string | null>('ajax', null));
    case 'server-batch':
      return fc.tuple(fc.array(event, { maxLength: 4 }), fc.constant(null));
    case 'handshake':
      return fc.tuple(
        fc.tuple(fc.constant('chsk/handshake'), fc.tuple(fc.oneof(fc.constant('sente/nil-uid'), fc.string(), fc.integer()), fc.constant(null), data, fc.boolean())),
        fc.constant(null),
      );
    case 'reply':
      return fc.tuple(data, cbId);
    case 'pong':
      return fc.tuple(fc.constant('pong'), fc.string({ minLength: 1, maxLength: 8 }));
    case 'ws-ping':
      return fc.tuple(fc.constant('chsk/ws-ping'), fc.constant(null));
    case 'lp-timeout':
      return fc.tuple(fc.constant('chsk/timeout'), fc.constant(null));
    case 'dummy-cb-200':
      return fc.tuple(fc.constant('chsk/dummy-cb-200'), fc.constant(null));
    case 'closed':
      return fc.tuple(fc.constant('chsk/closed'), cbId);
    case 'error':
      return fc.tuple(fc.constant('chsk/error'), cbId);
  }
}

for (const [name, profile] of Object.entries(PROFILES)) {
  const { packer } = profile;
  describe(`${name}Packer round trips`, () => {
    it('carries every value shape exactly', () => {
      fc.assert(
        fc.property(values(profile), (v) => {
          expect(packer.unpack(packer.pack(v))).toEqual(v);
        }),
        { numRuns: 300 },
      );
    });

    for (const kind of ENVELOPE_KINDS) {
      it(`carries every ${kind} envelope exactly`, () => {
        fc.assert(
          fc.property(envelopeOf(kind, values(profile)), (env) => {
            expect(packer.unpack(packer.pack(env, kind))).toEqual(env);
          }),
          { numRuns: 60 },
        );
      });
    }

    it('carries the values of the recorded Sente frames', () => {
      for (const v of WIRE_VECTORS) expect(packer.unpack(packer.pack(v.value, v.kind)), v.name).toEqual(v.value);
    });
  });
}
