/**
 * The client with a contract (`events`): validation of what the server sends (pushes, requests,
 * replies) before anything sees it, `trustServer`, server→client requests answered as
 * `chsk/reply` (by `reply` and by the router), the first-subscriber buffer of recv$, the RxJS way
 * to retry an eager send, and the types (wrong id, data or reply do not compile).
 * A fake transport stands for the network (virtual time): what matters here is what the client
 * does with server messages and what it hands its transport.
 */
import { type ChskEvent, type ChskError, defineEvents, type HandshakeData, isChskError, type Logger, type StatePair } from '@sente-rx/core';
import { createChannelSocketClient, startClientChskRouter, type ClientEventMsg, type Transport, type TransportContext, type TransportEvent } from '@sente-rx/client';
import { defer, type Observable, retry, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';

const events = defineEvents({
  client: {
    'chat/post': { data: z.object({ text: z.string().max(100) }), reply: z.object({ id: z.number() }) },
    'chat/typing': { data: z.undefined() },
  },
  server: {
    'chat/msg': { data: z.object({ id: z.number(), text: z.string(), tags: z.array(z.string()).max(10).optional() }) },
    'chat/confirm': { data: z.object({ question: z.string() }), reply: z.boolean() },
  },
});

interface Fake extends Transport {
  readonly sent: [ChskEvent, string | null][];
  readonly emit: (ev: TransportEvent) => void;
  closed: boolean;
}

function fakeFactory(made: Fake[], type: 'ws' | 'ajax') {
  return (_ctx: TransportContext): Transport => {
    const events$ = new Subject<TransportEvent>();
    const t: Fake = {
      type,
      keepAlive: false,
      events: events$,
      sent: [],
      closed: false,
      emit: (ev) => events$.next(ev),
      connect: () => undefined,
      send: (event, cbId) => {
        JSON.stringify(event); // packs, or throws as a packer would
        t.sent.push([event, cbId]);
        return !t.closed;
      },
      stop: () => void (t.closed = true),
      simulateNetworkFailure: () => t.emit({ kind: 'closed', code: 3000, reason: 'broken', clean: false }),
    };
    made.push(t);
    return t;
  };
}

interface Logged {
  level: string;
  msg: string;
  data: Record<string, unknown> | undefined;
}
function logger(into: Logged[]): Logger {
  const at = (level: string) => (msg: string, data?: Record<string, unknown>) => void into.push({ level, msg, data });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const handshake: TransportEvent = { kind: 'message', message: { kind: 'handshake', uid: 'u', handshakeData: null, first: true } };
const batch = (...evs: ChskEvent[]): TransportEvent => ({ kind: 'message', message: { kind: 'batch', events: evs } });
const newScheduler = (): TestScheduler => new TestScheduler((a, b) => expect(a).toEqual(b));

function setup(type: 'ws' | 'ajax' = 'ws', extra: { trustServer?: boolean; recvBufferSize?: number } = {}) {
  const scheduler = newScheduler();
  const made: Fake[] = [];
  const logs: Logged[] = [];
  const c = createChannelSocketClient('', null, { type, transport: fakeFactory(made, type), scheduler, logger: logger(logs), storage: null, wsKeepAliveMs: 0, events, ...extra });
  const t = (): Fake => {
    const last = made.at(-1);
    if (last === undefined) throw new Error('no transport');
    return last;
  };
  return { scheduler, made, logs, c, t };
}

describe('a client with a contract: validation', () => {
  it('delivers valid pushes as the schema output (extra keys stripped) and drops invalid ones with a warning', () => {
    const { c, t, logs } = setup();
    const got: ClientEventMsg<typeof events>[] = [];
    c.recv$.subscribe((m) => got.push(m));
    t().emit(handshake);
    const evil = JSON.parse('{"id":1,"text":"x","__proto__":{"polluted":true}}') as unknown;
    t().emit(
      batch(
        ['chat/msg', { id: 1, text: 'hi', extra: 'dropped' }],
        ['chat/msg', { id: 'one', text: 'hi' }], // wrong type
        ['chat/msg', { id: 2, text: 'x', tags: Array.from({ length: 10_000 }, () => 'spam') }], // huge array
        ['chat/msg', { id: 3, text: 'x', tags: [1] }], // wrong nested type
        ['chat/unknown', {}], // not in the contract
        ['chsk/bad-event', 42], // malformed on the wire
        ['chat/msg', evil],
      ),
    );
    const apps = got.filter((m) => !m.id.startsWith('chsk/'));
    expect(apps.map((m) => m.event)).toEqual([
      ['chat/msg', { id: 1, text: 'hi' }],
      ['chat/msg', { id: 1, text: 'x' }],
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(apps[1]?.data)).toBe(Object.prototype);
    const dropped = logs.filter((l) => l.level === 'warn' && l.msg.startsWith('sente-rx: dropped'));
    expect(dropped.map((l) => l.data?.id ?? 'bad-event')).toEqual(['chat/msg', 'chat/msg', 'chat/msg', 'chat/unknown', 'bad-event']);
    expect(dropped[0]?.data?.issues).toEqual([expect.objectContaining({ path: ['id'] })]);
    expect(dropped[2]?.data?.issues).toEqual([expect.objectContaining({ path: ['tags', 0] })]);
    c.close();
  });

  it('a reply that fails its schema errors the send with chsk/error carrying the issues; a valid one is the schema output', () => {
    const { c, t, scheduler } = setup();
    t().emit(handshake);
    const errors: ChskError[] = [];
    const values: unknown[] = [];
    c.send(['chat/post', { text: 'a' }], { timeoutMs: 1_000 }).subscribe({ next: (v) => values.push(v), error: (e: ChskError) => errors.push(e) });
    c.send(['chat/post', { text: 'b' }], { timeoutMs: 1_000 }).subscribe({ next: (v) => values.push(v), error: (e: ChskError) => errors.push(e) });
    const [[, cb1], [, cb2]] = t().sent as [[ChskEvent, string], [ChskEvent, string]];
    t().emit({ kind: 'reply', cbId: cb1, value: { id: 'nope' } });
    t().emit({ kind: 'reply', cbId: cb2, value: { id: 7, more: 1 } });
    scheduler.flush();
    expect(values).toEqual([{ id: 7 }]);
    expect(errors).toHaveLength(1);
    expect(isChskError(errors[0], 'chsk/error')).toBe(true);
    expect(errors[0]?.issues).toEqual([expect.objectContaining({ path: ['id'] })]);
    expect(errors[0]?.message).toContain('"chat/post" failed validation');
    c.close();
  });

  it('trustServer: true delivers pushes and replies as sent, unchecked', () => {
    const { c, t } = setup('ws', { trustServer: true });
    const got: unknown[] = [];
    c.recv$.subscribe((m) => got.push(m.event));
    t().emit(handshake);
    t().emit(batch(['chat/msg', { id: 'one' }]));
    const values: unknown[] = [];
    c.send(['chat/post', { text: 'a' }], { timeoutMs: 1_000 }).subscribe((v) => values.push(v));
    t().emit({ kind: 'reply', cbId: t().sent[0]?.[1] ?? '', value: { id: 'nope' } });
    expect(got).toContainEqual(['chat/msg', { id: 'one' }]);
    expect(values).toEqual([{ id: 'nope' }]);
    c.close();
  });
});

describe('a client with a contract: where the validation comes from', () => {
  it('refuses a contract defineEvents did not make (hand-built, a spread copy, null) at creation, before any transport', () => {
    const made: Fake[] = [];
    const make = (contract: unknown, trustServer?: boolean) => () =>
      createChannelSocketClient('', null, {
        transport: fakeFactory(made, 'ws'),
        scheduler: newScheduler(),
        logger: logger([]),
        storage: null,
        events: contract as typeof events,
        ...(trustServer === undefined ? {} : { trustServer }),
      });
    const handBuilt = { client: events.client, server: events.server };
    expect(handBuilt).toEqual(events); // the same to toEqual: the validation is not an enumerable key
    for (const contract of [handBuilt, { ...events }, null, 'events']) {
      expect(make(contract)).toThrow(new TypeError('events must be a contract made by defineEvents'));
    }
    // The rule does not depend on trustServer (which skips the validation, not the contract's origin).
    expect(make(handBuilt, true)).toThrow(new TypeError('events must be a contract made by defineEvents'));
    expect(made).toEqual([]);
    const ok = make(events)();
    expect(made).toHaveLength(1);
    ok.close();
  });
});

describe.each(['ws', 'ajax'] as const)('server→client requests (%s)', (type) => {
  it('a chsk/req entry reaches recv$ as the inner event with reply; only the first reply goes back as chsk/reply', () => {
    const { c, t } = setup(type);
    const got: ClientEventMsg<typeof events>[] = [];
    c.recv$.subscribe((m) => got.push(m));
    t().emit(handshake);
    t().emit(batch(['chat/msg', { id: 1, text: 'push' }], ['chsk/req', ['r1', ['chat/confirm', { question: 'sure?' }]]]));
    const apps = got.filter((m) => !m.id.startsWith('chsk/'));
    expect(apps.map((m) => [m.id, m.reply === undefined])).toEqual([
      ['chat/msg', true],
      ['chat/confirm', false],
    ]);
    const req = apps[1];
    if (req?.id !== 'chat/confirm' || req.reply === undefined) throw new Error('expected the request');
    expect(req.event).toEqual(['chat/confirm', { question: 'sure?' }]);
    req.reply(true);
    req.reply(false); // ignored
    expect(t().sent).toEqual([[['chsk/reply', ['r1', true]], null]]);
    c.close();
  });

  it('a request that fails validation is answered chsk/error with the issues and not delivered; a malformed one is dropped', () => {
    const { c, t, logs } = setup(type);
    const ids: string[] = [];
    c.recv$.subscribe((m) => ids.push(m.id));
    t().emit(handshake);
    t().emit(
      batch(
        ['chsk/req', ['r1', ['chat/confirm', { question: 42 }]]], // bad data
        ['chsk/req', ['r2', ['chat/msg', { id: 1, text: 'x' }]]], // declares no reply
        ['chsk/req', ['r3', ['chat/nope', {}]]], // unknown id
        ['chsk/req', ['r4', 'not an event']],
        ['chsk/req', [42, ['chat/confirm', { question: 'q' }]]], // no usable reqId: nobody to answer
        ['chsk/req', ['x'.repeat(65), ['chat/confirm', { question: 'q' }]]],
      ),
    );
    expect(ids.filter((id) => !id.startsWith('chsk/'))).toEqual([]);
    expect(t().sent.map(([ev]) => ev)).toEqual([
      ['chsk/reply', ['r1', null, 'chsk/error', [{ path: ['question'], message: expect.any(String) }]]],
      ['chsk/reply', ['r2', null, 'chsk/error', [{ path: [], message: '"chat/msg" declares no reply, but one was asked for' }]]],
      ['chsk/reply', ['r3', null, 'chsk/error', [{ path: [], message: expect.stringContaining('unknown event id "chat/nope"') }]]],
      ['chsk/reply', ['r4', null, 'chsk/error', [{ path: [], message: expect.stringContaining('must carry an app event') }]]],
    ]);
    expect(t().sent.every(([, cbId]) => cbId === null)).toBe(true);
    expect(logs.filter((l) => l.msg.startsWith('sente-rx: ignored a malformed server request'))).toHaveLength(2);
    c.close();
  });

  it('the router answers a request from the handler result, and with chsk/error when the handler throws', async () => {
    const { c, t } = setup(type);
    const failures: unknown[] = [];
    const sub = startClientChskRouter(
      c.recv$,
      {
        'chat/confirm': (m) => {
          if (m.data.question === 'boom?') throw new Error('no UI');
          return m.data.question.endsWith('?');
        },
      },
      { errorHandler: (err) => void failures.push(err) },
    );
    t().emit(handshake);
    t().emit(batch(['chsk/req', ['r1', ['chat/confirm', { question: 'ok?' }]]], ['chsk/req', ['r2', ['chat/confirm', { question: 'boom?' }]]]));
    expect(t().sent.map(([ev]) => ev)).toEqual([
      ['chsk/reply', ['r1', true]],
      ['chsk/reply', ['r2', null, 'chsk/error']],
    ]);
    expect(failures).toHaveLength(1);
    sub.unsubscribe();
    c.close();
  });

  it('a reply that does not pack is answered chsk/error; a reply after the channel closed is dropped', () => {
    const { c, t, made } = setup(type);
    const reqs: ((v: unknown) => void)[] = [];
    c.recv$.subscribe((m) => m.reply !== undefined && reqs.push(m.reply as (v: unknown) => void));
    t().emit(handshake);
    t().emit(batch(['chsk/req', ['r1', ['chat/confirm', { question: 'q' }]]], ['chsk/req', ['r2', ['chat/confirm', { question: 'q' }]]]));
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    reqs[0]?.(cyclic);
    expect(t().sent.map(([ev]) => ev)).toEqual([['chsk/reply', ['r1', null, 'chsk/error']]]);
    c.disconnect();
    reqs[1]?.(true);
    expect(made.flatMap((x) => x.sent)).toHaveLength(1);
    c.close();
  });
});

describe('recv$ keeps early events for its first subscriber', () => {
  it('chsk/state and chsk/handshake that came before subscribing are delivered to the first subscriber, then live ones', () => {
    const { c, t } = setup();
    t().emit(handshake);
    t().emit(batch(['chat/msg', { id: 1, text: 'early' }]));
    const first: string[] = [];
    const second: string[] = [];
    c.recv$.subscribe((m) => first.push(m.id));
    c.recv$.subscribe((m) => second.push(m.id));
    t().emit(batch(['chat/msg', { id: 2, text: 'live' }]));
    expect(first).toEqual(['chsk/state', 'chsk/handshake', 'chat/msg', 'chat/msg']);
    expect(second).toEqual(['chat/msg']);
    c.close();
  });

  it('is bounded by recvBufferSize: the oldest are dropped, with one warning', () => {
    const { c, t, logs } = setup('ws', { recvBufferSize: 2 });
    t().emit(handshake);
    t().emit(batch(['chat/msg', { id: 1, text: 'a' }], ['chat/msg', { id: 2, text: 'b' }], ['chat/msg', { id: 3, text: 'c' }]));
    const got: unknown[] = [];
    c.recv$.subscribe((m) => got.push(m.data));
    expect(got).toEqual([
      { id: 2, text: 'b' },
      { id: 3, text: 'c' },
    ]);
    expect(logs.filter((l) => l.msg.includes('buffer is full'))).toHaveLength(1);
    c.close();
  });
});

describe('send is eager; retry by deferring it', () => {
  it('retrying the Observable send returned does not send again: it replays the one outcome', () => {
    const { c, t, scheduler } = setup();
    t().emit(handshake);
    scheduler.run(({ expectObservable }) => {
      const once = c.send(['chat/post', { text: 'x' }], { timeoutMs: 10 }).pipe(retry(2));
      expectObservable(once).toBe('10ms #', undefined, expect.objectContaining({ code: 'chsk/timeout' }));
    });
    expect(t().sent).toHaveLength(1); // resubscribing the same Observable did not resend
    c.close();
  });

  it('defer(() => send(ev, opts)).pipe(retry(2)) sends again on each retry', () => {
    const { c, t, scheduler } = setup();
    t().emit(handshake);
    scheduler.run(({ expectObservable }) => {
      // The server answers the third attempt, 1 ms after it was sent.
      const fake = t();
      const send = fake.send;
      fake.send = (event, cbId) => {
        const ok = send(event, cbId);
        if (fake.sent.length === 3) scheduler.schedule(() => fake.emit({ kind: 'reply', cbId: cbId ?? '', value: { id: 3 } }), 1);
        return ok;
      };
      const deferred = defer(() => c.send(['chat/post', { text: 'x' }], { timeoutMs: 10 })).pipe(retry(2));
      expectObservable(deferred).toBe('21ms (r|)', { r: { id: 3 } }); // attempts at 0, 10 (timeouts) and 20
    });
    expect(t().sent).toHaveLength(3);
    c.close();
  });
});

describe('types', () => {
  it('send, recv$ and replies are typed by the contract; wrong ids, data and replies do not compile', () => {
    const { c } = setup();
    expectTypeOf(c.send(['chat/post', { text: 'hi' }], { timeoutMs: 1 })).toEqualTypeOf<Observable<{ id: number }>>();
    c.send(['chat/typing']).subscribe({ error: () => undefined });
    // @ts-expect-error unknown id
    c.send(['chat/nope', { text: 'hi' }]);
    // @ts-expect-error wrong data
    c.send(['chat/post', { text: 1 }]);
    // @ts-expect-error a server→client id is not for send
    c.send(['chat/msg', { id: 1, text: 'x' }]);
    // @ts-expect-error ids need a namespace
    expect(() => c.send(['hello'])).toThrow(TypeError);
    c.recv$.subscribe((m) => {
      if (m.id === 'chat/msg') {
        expectTypeOf(m.data).toEqualTypeOf<{ id: number; text: string; tags?: string[] | undefined }>();
        expectTypeOf(m.reply).toEqualTypeOf<undefined>();
      }
      if (m.id === 'chat/confirm' && m.reply !== undefined) {
        m.reply(true);
        // @ts-expect-error the reply is a boolean
        m.reply('yes');
      }
      if (m.id === 'chsk/handshake') expectTypeOf(m.data).toEqualTypeOf<HandshakeData>();
      if (m.id === 'chsk/state') expectTypeOf(m.data).toEqualTypeOf<StatePair>();
      // @ts-expect-error not an id the client receives
      if (m.id === 'chat/post') return;
    });
    // Never opened, so it errors with chsk/closed: handled, or RxJS reports it as uncaught.
    c.send(['chat/post', { text: 'a' }], { timeoutMs: 1 }).subscribe({
      next: (r) => {
        // @ts-expect-error the reply has no text
        void r.text;
      },
      error: (e: unknown) => expect(isChskError(e) && e.code).toBe('chsk/closed'),
    });
    // Without a contract the API is as before: ids are strings, data and replies unknown.
    const untyped = createChannelSocketClient('', null, { type: 'ws', transport: fakeFactory([], 'ws'), storage: null, scheduler: newScheduler() });
    expectTypeOf(untyped.send(['any/id', 1], { timeoutMs: 1 })).toEqualTypeOf<Observable<unknown>>();
    expectTypeOf(untyped.recv$).toEqualTypeOf<Observable<ClientEventMsg>>();
    untyped.recv$.subscribe((m) => expectTypeOf(m.data).toEqualTypeOf<unknown>());
    untyped.close();
    c.close();
  });
});
