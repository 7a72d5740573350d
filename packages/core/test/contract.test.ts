/**
 * The typed contract: defineEvents' checks, validateIncoming / validateReply on honest and on
 * crafted data, and the types it derives (expectTypeOf, @ts-expect-error: the root tsc run
 * enforces both).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  ChskError,
  CONTRACT_CHECKS,
  contractChecks,
  defineEvents,
  describeIssues,
  isChskError,
  validateIncoming,
  validateReply,
  validationError,
  type ChskEvent,
  type ClientEvent,
  type ClientEventMsgOf,
  type EventContract,
  type HandshakeData,
  type ReplyOf,
  type ServerEvent,
  type ServerEventMsgOf,
  type StandardSchemaV1,
  type StatePair,
  type UntypedContract,
} from '@sente-rx/core';

const events = defineEvents({
  client: {
    'chat/post': { data: z.object({ room: z.string(), text: z.string().max(200) }), reply: z.object({ id: z.number() }) },
    'chat/typing': { data: z.object({ room: z.string() }).optional() },
    'chat/strict': { data: z.strictObject({ text: z.string() }) },
    'chat/batch': { data: z.object({ items: z.array(z.object({ n: z.number() })).max(100) }) },
    'chat/count': { data: z.string().transform((s) => s.length), reply: z.number() },
  },
  server: {
    'chat/msg': { data: z.object({ id: z.number(), text: z.string() }) },
    'chat/confirm': { data: z.object({ question: z.string() }), reply: z.boolean() },
  },
});
type C = typeof events;

describe('defineEvents', () => {
  it('returns the schemas, frozen', () => {
    expect(Object.keys(events.client)).toEqual(['chat/post', 'chat/typing', 'chat/strict', 'chat/batch', 'chat/count']);
    expect(Object.isFrozen(events)).toBe(true);
    expect(Object.isFrozen(events.client)).toBe(true);
  });

  it.each([
    [{ client: { hello: { data: z.string() } }, server: {} }, /namespace/],
    [{ client: {}, server: { 'chsk/state': { data: z.string() } } }, /reserved/],
    [{ client: { 'a/b': { data: { parse: () => 1 } } }, server: {} }, /Standard Schema/],
    [{ client: { 'a/b': { data: z.string(), reply: 42 } }, server: {} }, /reply must be a Standard Schema/],
    [{ client: { 'a/b': { data: z.string(), replay: z.string() } }, server: {} }, /unknown key "replay"/],
    [{ client: [], server: {} }, /"client" must be an object/],
  ])('refuses %o at run time', (def, message) => {
    expect(() => defineEvents(def as never)).toThrow(TypeError);
    expect(() => defineEvents(def as never)).toThrow(message);
  });

  it('refuses bad ids at the type level', () => {
    // @ts-expect-error an id without a namespace
    expect(() => defineEvents({ client: { hello: { data: z.string() } }, server: {} })).toThrow(/namespace/);
    // @ts-expect-error a reserved chsk/ id
    expect(() => defineEvents({ client: {}, server: { 'chsk/handshake': { data: z.string() } } })).toThrow(/reserved/);
    // @ts-expect-error data must be a Standard Schema
    expect(() => defineEvents({ client: { 'a/b': { data: 'string' } }, server: {} })).toThrow(/Standard Schema/);
  });

  it('accepts any Standard Schema v1 validator, not only zod', () => {
    const evenNumber: StandardSchemaV1<number> = {
      '~standard': {
        version: 1,
        vendor: 'hand-written',
        validate: (v) => (typeof v === 'number' && v % 2 === 0 ? { value: v } : { issues: [{ message: 'not an even number' }] }),
      },
    };
    const c = defineEvents({ client: { 'n/even': { data: evenNumber } }, server: {} });
    expect(validateIncoming(c, 'client', ['n/even', 4])).toEqual({ ok: true, value: ['n/even', 4] });
    expect(validateIncoming(c, 'client', ['n/even', 3])).toEqual({ ok: false, issues: [{ path: [], message: 'not an even number' }] });
    expectTypeOf<ClientEvent<typeof c>>().toEqualTypeOf<readonly [id: 'n/even', data: number]>();
  });
});

describe('the validation a contract carries (CONTRACT_CHECKS, what the client reads)', () => {
  it('is a non-enumerable, read-only property under Symbol.for: keys, spreads and toEqual see only client and server', () => {
    expect(CONTRACT_CHECKS).toBe(Symbol.for('sente-rx.contract')); // another copy of core finds it too
    expect(Object.keys(events)).toEqual(['client', 'server']);
    expect(events).toEqual({ client: events.client, server: events.server });
    expect(Object.getOwnPropertyDescriptor(events, CONTRACT_CHECKS)).toMatchObject({ enumerable: false, writable: false, configurable: false });
    expect(Object.isFrozen(contractChecks(events))).toBe(true);
  });

  it('is validateIncoming / validateReply / validationError bound to the contract', () => {
    const checks = contractChecks(events);
    if (checks === undefined) throw new Error('defineEvents attached no checks');
    for (const ev of [['chat/post', { room: 'r', text: 'hi' }], ['chat/post', { room: 1 }], ['chat/nope', {}], 'junk']) {
      expect(checks.incoming('client', ev)).toEqual(validateIncoming(events, 'client', ev));
      expect(checks.incoming('client', ev, { replyAsked: true })).toEqual(validateIncoming(events, 'client', ev, { replyAsked: true }));
    }
    expect(checks.incoming('server', ['chat/msg', { id: 1, text: 'x' }], { replyAsked: true })).toEqual(
      validateIncoming(events, 'server', ['chat/msg', { id: 1, text: 'x' }], { replyAsked: true }),
    );
    for (const [id, value] of [['chat/post', { id: 1 }], ['chat/post', { id: 'x' }], ['chat/typing', 1], ['chat/nope', 1]] as const) {
      expect(checks.reply('client', id, value)).toEqual(validateReply(events, 'client', id as 'chat/post', value));
    }
    expect(checks.error).toBe(validationError);
  });

  it('is absent from anything defineEvents did not return', () => {
    for (const c of [{ client: events.client, server: events.server }, { ...events }, structuredClone({ client: {}, server: {} }), null, undefined, 'x']) {
      expect(contractChecks(c)).toBeUndefined();
    }
  });
});

describe('validateIncoming', () => {
  it('passes valid data and hands over the schema output', () => {
    expect(validateIncoming(events, 'client', ['chat/post', { room: 'r', text: 'hi' }])).toEqual({
      ok: true,
      value: ['chat/post', { room: 'r', text: 'hi' }],
    });
    expect(validateIncoming(events, 'client', ['chat/count', 'four'])).toEqual({ ok: true, value: ['chat/count', 4] });
    expect(validateIncoming(events, 'client', ['chat/typing'])).toEqual({ ok: true, value: ['chat/typing'] });
  });

  it('reports wrong data with paths into the data', () => {
    const r = validateIncoming(events, 'client', ['chat/post', { room: 1, text: 'x'.repeat(201) }]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.path)).toEqual([['room'], ['text']]);
    expect(describeIssues(r.issues)).toMatch(/^room: .*expected string.*; text: .*<=200/);
  });

  it('one rule for unknown ids, reserved ids and non-events: a failure, never a throw', () => {
    for (const ev of [['chat/nope', {}], ['chsk/handshake', ['u', null, true]], 'chat/post', [], ['nons']]) {
      const r = validateIncoming(events, 'client', ev);
      expect(r.ok, JSON.stringify(ev)).toBe(false);
    }
    expect(validateIncoming(events, 'client', ['chat/nope', {}])).toEqual({
      ok: false,
      issues: [{ path: [], message: 'unknown event id "chat/nope": the contract lists no such client event' }],
    });
    // a server event is not a client event
    expect(validateIncoming(events, 'client', ['chat/msg', { id: 1, text: 'x' }]).ok).toBe(false);
    expect(validateIncoming(events, 'server', ['chat/msg', { id: 1, text: 'x' }]).ok).toBe(true);
  });

  it('a reply asked for an event that declares none is a failure', () => {
    expect(validateIncoming(events, 'client', ['chat/typing', { room: 'r' }], { replyAsked: true })).toEqual({
      ok: false,
      issues: [{ path: [], message: '"chat/typing" declares no reply, but one was asked for' }],
    });
    expect(validateIncoming(events, 'client', ['chat/post', { room: 'r', text: 't' }], { replyAsked: true }).ok).toBe(true);
  });

  describe('data crafted to pass a naive check', () => {
    it('extra keys: stripped by z.object, refused by z.strictObject', () => {
      expect(validateIncoming(events, 'client', ['chat/post', { room: 'r', text: 't', admin: true }])).toEqual({
        ok: true,
        value: ['chat/post', { room: 'r', text: 't' }],
      });
      const r = validateIncoming(events, 'client', ['chat/strict', { text: 't', admin: true }]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues[0]?.message).toMatch(/admin/);
    });

    it('wrong nested types are found deep down, with the path', () => {
      const r = validateIncoming(events, 'client', ['chat/batch', { items: [{ n: 1 }, { n: 2 }, { n: '3' }] }]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => i.path)).toEqual([['items', 2, 'n']]);
    });

    it('huge arrays are refused by the schema bound', () => {
      const items = Array.from({ length: 100_000 }, (_, n) => ({ n }));
      const r = validateIncoming(events, 'client', ['chat/batch', { items }]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues).toEqual([{ path: ['items'], message: expect.stringMatching(/<=100/) as unknown as string }]);
    });

    it('__proto__ keys (as JSON.parse makes them) neither pass through nor pollute', () => {
      const parsed: unknown = JSON.parse('["chat/post", {"__proto__": {"admin": true}, "room": "r", "text": "t"}]');
      const r = validateIncoming(events, 'client', parsed);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const data = r.value[1] as Record<string, unknown>;
      expect(Object.keys(data)).toEqual(['room', 'text']);
      expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
      expect(data.admin).toBeUndefined();
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
      const strict: unknown = JSON.parse('["chat/strict", {"__proto__": {"admin": true}, "text": "t"}]');
      expect(validateIncoming(events, 'client', strict).ok).toBe(false);
      // an id that names a prototype member is still unknown
      expect(validateIncoming(events, 'client', ['constructor/x', {}]).ok).toBe(false);
      expect(validateIncoming(events, 'client', ['__proto__/x', {}]).ok).toBe(false);
    });
  });

  it('an async schema is refused with a clear message, without an unhandled rejection', () => {
    const c = defineEvents({ client: { 'a/async': { data: z.string().refine(async () => false) } }, server: {} });
    const r = validateIncoming(c, 'client', ['a/async', 'x']);
    expect(r).toEqual({ ok: false, issues: [{ path: [], message: expect.stringMatching(/asynchronous/) as unknown as string }] });
  });

  it('a schema that throws is reported, not thrown', () => {
    // zod turns a throwing refinement into an async result (covered above); a hand-written schema may throw.
    const throwing: StandardSchemaV1<string> = {
      '~standard': {
        version: 1,
        vendor: 'hand-written',
        validate: () => {
          throw new Error('boom');
        },
      },
    };
    const c = defineEvents({ client: { 'a/throws': { data: throwing } }, server: {} });
    expect(validateIncoming(c, 'client', ['a/throws', 'x'])).toEqual({
      ok: false,
      issues: [{ path: [], message: 'the schema of "a/throws" threw: boom' }],
    });
  });
});

describe('validateReply and validationError', () => {
  it('checks replies against the reply schema of the event the side sent', () => {
    expect(validateReply(events, 'client', 'chat/post', { id: 7 })).toEqual({ ok: true, value: { id: 7 } });
    expect(validateReply(events, 'client', 'chat/post', { id: '7' }).ok).toBe(false);
    expect(validateReply(events, 'server', 'chat/confirm', true)).toEqual({ ok: true, value: true });
    expect(validateReply(events, 'client', 'chat/typing', 'anything')).toEqual({
      ok: false,
      issues: [{ path: [], message: '"chat/typing" declares no reply' }],
    });
  });

  it("makes a 'chsk/error' ChskError that carries the issues", () => {
    const issues = [{ path: ['text'], message: 'Too big' }];
    const err = validationError('chat/post', issues);
    expect(isChskError(err, 'chsk/error')).toBe(true);
    expect(err).toBeInstanceOf(ChskError);
    expect(err.issues).toEqual(issues);
    expect(err.message).toBe('"chat/post" failed validation: text: Too big');
    expect(new ChskError('chsk/timeout', 'x').issues).toBeUndefined();
  });
});

describe('derived types', () => {
  it('events are unions of [id, data] tuples narrowed by id', () => {
    expectTypeOf<ClientEvent<C>>().toEqualTypeOf<
      | readonly [id: 'chat/post', data: { room: string; text: string }]
      | readonly [id: 'chat/typing']
      | readonly [id: 'chat/typing', data: { room: string } | undefined]
      | readonly [id: 'chat/strict', data: { text: string }]
      | readonly [id: 'chat/batch', data: { items: { n: number }[] }]
      | readonly [id: 'chat/count', data: string]
    >();
    expectTypeOf<ServerEvent<C>>().toEqualTypeOf<
      readonly [id: 'chat/msg', data: { id: number; text: string }] | readonly [id: 'chat/confirm', data: { question: string }]
    >();
    expectTypeOf<ReplyOf<C, 'client', 'chat/post'>>().toEqualTypeOf<{ id: number }>();
    expectTypeOf<ReplyOf<C, 'server', 'chat/confirm'>>().toEqualTypeOf<boolean>();
    expectTypeOf<ReplyOf<C, 'client', 'chat/typing'>>().toEqualTypeOf<never>();

    const ok: ClientEvent<C> = ['chat/post', { room: 'r', text: 't' }];
    // @ts-expect-error an id the contract does not list
    const wrongId: ClientEvent<C> = ['chat/nope', { room: 'r', text: 't' }];
    // @ts-expect-error 'hello' is not even a namespaced id
    const notNamespaced: ClientEvent<C> = ['hello'];
    // @ts-expect-error wrong data
    const wrongData: ClientEvent<C> = ['chat/post', { room: 1, text: 't' }];
    // @ts-expect-error a server event is not a client event
    const wrongSide: ClientEvent<C> = ['chat/msg', { id: 1, text: 't' }];
    expect([ok, wrongId, notNamespaced, wrongData, wrongSide].length).toBe(5);
  });

  it('a typed send signature infers the reply from the event (the shape the factories adopt)', () => {
    type Send<TC extends EventContract> = <E extends ClientEvent<TC>>(event: E, opts?: { timeoutMs?: number }) => ReplyOf<TC, 'client', E[0]>;
    const send = ((event: ClientEvent) => event[0]) as unknown as Send<C>;
    expectTypeOf(send(['chat/post', { room: 'r', text: 't' }])).toEqualTypeOf<{ id: number }>();
    expectTypeOf(send(['chat/count', 'abc'])).toEqualTypeOf<number>();
    // @ts-expect-error wrong data for the id
    send(['chat/count', 3]);
    const untyped = ((event: ClientEvent) => event[0]) as unknown as Send<UntypedContract>;
    expectTypeOf(untyped(['any/thing', { x: 1 }])).toEqualTypeOf<unknown>();
    expect(send(['chat/typing'])).toBe('chat/typing');
  });

  it('a factory infers the contract from an `events` option next to context-typed callbacks', () => {
    interface FakeServer<TC extends EventContract> {
      readonly recv$: ServerEventMsgOf<TC, { readonly uid: string }>[];
      send(uid: string, event: ServerEvent<TC>): void;
    }
    function createFake<TReq, TC extends EventContract = UntypedContract>(
      _adapter: { readonly sample: TReq },
      _options: { readonly userId?: (req: TReq) => string; readonly events?: TC } = {},
    ): FakeServer<TC> {
      const sent: unknown[] = [];
      return { recv$: [], send: (uid, event) => void sent.push([uid, event]) };
    }
    const typed = createFake({ sample: { cookie: 'c' } }, { userId: (req) => req.cookie, events });
    expectTypeOf(typed.recv$[0]).toEqualTypeOf<ServerEventMsgOf<C, { readonly uid: string }> | undefined>();
    typed.send('u', ['chat/msg', { id: 1, text: 't' }]);
    // @ts-expect-error a client event cannot be pushed
    typed.send('u', ['chat/post', { room: 'r', text: 't' }]);
    const untyped = createFake({ sample: 1 }, { userId: (req) => String(req) });
    expectTypeOf(untyped.recv$[0]).toEqualTypeOf<ServerEventMsgOf<UntypedContract, { readonly uid: string }> | undefined>();
    untyped.send('u', ['any/thing', 1]);
    expect(typed.recv$).toEqual([]);
  });

  it('without a contract the event and msg types are exactly the untyped ones', () => {
    expectTypeOf<ClientEvent>().toEqualTypeOf<ChskEvent>();
    expectTypeOf<ServerEvent<UntypedContract>>().toEqualTypeOf<ChskEvent>();
    interface Base {
      readonly uid: string;
    }
    interface Untyped {
      readonly uid: string;
      readonly event: ChskEvent;
      readonly id: string;
      readonly data: unknown;
      readonly reply?: (value: unknown) => void;
    }
    expectTypeOf<ServerEventMsgOf<UntypedContract, Base>>().toEqualTypeOf<Untyped>();
    expectTypeOf<ClientEventMsgOf<UntypedContract, Base>>().toEqualTypeOf<Untyped>();
    expect(true).toBe(true);
  });

  it('msgs narrow by id, with typed data, reply and the reserved events', () => {
    type SMsg = ServerEventMsgOf<C, { readonly uid: string }>;
    type CMsg = ClientEventMsgOf<C>;
    const onServer = (msg: SMsg): string => {
      if (msg.id === 'chat/post') {
        expectTypeOf(msg.data).toEqualTypeOf<{ room: string; text: string }>();
        expectTypeOf(msg.reply).toEqualTypeOf<((value: { id: number }) => void) | undefined>();
        msg.reply?.({ id: 1 });
        // @ts-expect-error wrong reply type
        msg.reply?.({ id: 'one' });
        return msg.uid;
      }
      if (msg.id === 'chat/count') expectTypeOf(msg.data).toEqualTypeOf<number>(); // the transform's output
      if (msg.id === 'chat/typing') expectTypeOf(msg.reply).toEqualTypeOf<undefined>();
      if (msg.id === 'chsk/uidport-open') expectTypeOf(msg.data).toEqualTypeOf<string>();
      // @ts-expect-error not an id the server receives
      if (msg.id === 'chat/msg') return '';
      return msg.id;
    };
    const onClient = (msg: CMsg): unknown => {
      if (msg.id === 'chsk/state') expectTypeOf(msg.data).toEqualTypeOf<StatePair>();
      if (msg.id === 'chsk/handshake') expectTypeOf(msg.data).toEqualTypeOf<HandshakeData>();
      if (msg.id === 'chsk/recv') expectTypeOf(msg.data).toEqualTypeOf<ServerEvent<C>>();
      if (msg.id === 'chat/confirm') {
        expectTypeOf(msg.data).toEqualTypeOf<{ question: string }>();
        expectTypeOf(msg.reply).toEqualTypeOf<((value: boolean) => void) | undefined>();
      }
      return msg.data;
    };
    expect(onServer({ id: 'chsk/uidport-open', event: ['chsk/uidport-open', 'u1'], data: 'u1', uid: 'u1' })).toBe('chsk/uidport-open');
    expect(onClient({ id: 'chat/msg', event: ['chat/msg', { id: 1, text: 't' }], data: { id: 1, text: 't' } })).toEqual({ id: 1, text: 't' });
  });
});
