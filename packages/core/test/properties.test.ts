import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  batchEnvelope,
  type ChskEvent,
  type ChskState,
  type CloseReason,
  initialState,
  jsonPacker,
  onAjaxSuccess,
  onClosed,
  onHandshake,
  onReconnectScheduled,
  onWsClose,
  onWsError,
  parseServerMessage,
  transition,
} from '@sente-rx/core';

/** JSON has no -0; everything else in fc.jsonValue survives a round trip exactly. */
const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const eventId = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9.-]{0,8}$/), fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/)).map(([ns, n]) => `${ns}/${n}`);
const event: fc.Arbitrary<ChskEvent> = fc.oneof(
  eventId.map((id) => [id] as const),
  fc.tuple(eventId, json).map(([id, d]) => [id, d] as const),
);

describe('packer round trip (property)', () => {
  it('unpack(pack(v)) equals v for any JSON value', () => {
    fc.assert(
      fc.property(json, (v) => {
        expect(jsonPacker.unpack(jsonPacker.pack(v))).toStrictEqual(v);
      }),
    );
  });

  it('works on bytes as well as text', () => {
    fc.assert(
      fc.property(json, (v) => {
        const bytes = new TextEncoder().encode(jsonPacker.pack(v) as string);
        expect(jsonPacker.unpack(bytes)).toStrictEqual(v);
      }),
    );
  });

  it('a push batch survives the wire in order', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), (events) => {
        const parsed = parseServerMessage(jsonPacker.unpack(jsonPacker.pack(batchEnvelope(events))));
        expect(parsed).toStrictEqual({ ok: true, value: { kind: 'batch', events: events.map((e) => [...e]) } });
      }),
    );
  });
});

type Op =
  | { op: 'handshake'; type: 'ws' | 'ajax'; uid: string }
  | { op: 'closed'; reason: CloseReason }
  | { op: 'scheduled'; udt: number }
  | { op: 'wsError' }
  | { op: 'wsClose'; code: number }
  | { op: 'ajaxOk' };

const reasons: CloseReason[] = ['clean', 'unexpected', 'requested-disconnect', 'requested-reconnect', 'downgrading-ws-to-ajax', 'ws-ping-timeout', 'ws-error'];
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('handshake' as const), type: fc.constantFrom('ws' as const, 'ajax' as const), uid: fc.constantFrom('a', 'b', 'sente/nil-uid') }),
  fc.record({ op: fc.constant('closed' as const), reason: fc.constantFrom(...reasons) }),
  fc.record({ op: fc.constant('scheduled' as const), udt: fc.nat() }),
  fc.record({ op: fc.constant('wsError' as const) }),
  fc.record({ op: fc.constant('wsClose' as const), code: fc.constantFrom(1000, 1006, 4000) }),
  fc.record({ op: fc.constant('ajaxOk' as const) }),
);

function apply(s: ChskState, o: Op, t: number): ChskState {
  switch (o.op) {
    case 'handshake':
      return onHandshake(s, { type: o.type, uid: o.uid, handshakeData: null });
    case 'closed':
      return onClosed(s, o.reason, t);
    case 'scheduled':
      return onReconnectScheduled(s, o.udt);
    case 'wsError':
      return onWsError(s, t);
    case 'wsClose':
      return onWsClose(s, { udt: t, code: o.code, reason: '', clean: o.code === 1000 });
    case 'ajaxOk':
      return onAjaxSuccess(s);
  }
}

describe('client state transitions (property)', () => {
  it('keep Sente invariants over any sequence of events', () => {
    fc.assert(
      fc.property(fc.constantFrom('auto' as const, 'ws' as const, 'ajax' as const), fc.array(op, { maxLength: 40 }), (type, ops) => {
        let state = initialState(type);
        let everOpened = false;
        let t = 0;
        for (const o of ops) {
          t++;
          const next = apply(state, o, t);
          const pair = transition(state, next);
          if (pair === undefined) continue;
          const [old, now] = pair;
          expect(old).toBe(state);
          const flipped = old.open !== now.open;
          // transient keys describe exactly one flip
          expect(now.openChanged === true).toBe(flipped);
          expect(now.opened === true).toBe(flipped && now.open);
          expect(now.closed === true).toBe(flipped && !now.open);
          expect(now.firstOpen === true).toBe(flipped && now.open && !everOpened);
          // everOpened is monotonic and true once open
          if (now.open) expect(now.everOpened).toBe(true);
          if (old.everOpened) expect(now.everOpened).toBe(true);
          // lastClose is (re)written only on an open → closed flip, with that reason and time
          if (flipped && !now.open) expect(now.lastClose).toEqual({ udt: t, reason: (o as { reason: CloseReason }).reason });
          else expect(now.lastClose).toBe(old.lastClose);
          // a handshake or a close clears the next-reconnect time
          if (o.op === 'handshake' || o.op === 'closed') expect(now.udtNextReconnect).toBeUndefined();
          if (o.op === 'handshake') expect(now.type).toBe(o.type);
          everOpened ||= now.open;
          state = now;
        }
      }),
    );
  });

  it('emits nothing when nothing changed', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
        let s = initialState('auto');
        for (const [i, o] of ops.entries()) s = apply(s, o, i);
        expect(transition(s, { ...s })).toBeUndefined();
      }),
    );
  });
});
