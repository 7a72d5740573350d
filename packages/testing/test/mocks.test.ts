/**
 * The kit's own behaviour: the mocks' marbles (recv$, state$, connectedUids$, replies and their
 * timeouts), what they record, their types, and that a wrong marble expectation fails.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { map, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { z } from 'zod';
import { ChskError, defineEvents, isChskError, NIL_UID, type StatePair } from '@sente-rx/core';
import type { ClientEventMsg } from '@sente-rx/client';
import { startServerChskRouter, type ServerEventMsg } from '@sente-rx/server';
import { mockClientChsk, mockServerChsk } from '@sente-rx/testing';

const events = defineEvents({
  client: {
    'chat/post': { data: z.object({ text: z.string() }), reply: z.object({ id: z.number() }) },
    'chat/typing': { data: z.object({ room: z.string() }) },
  },
  server: {
    'chat/msg': { data: z.object({ text: z.string() }) },
    'chat/confirm': { data: z.object({ question: z.string() }), reply: z.boolean() },
  },
});

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('mockClientChsk', () => {
  it('plays recv$ as a marble of event-msgs', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const chsk = mockClientChsk({
        scheduler,
        events,
        recv: '-h-a--b',
        values: { h: ['chsk/handshake', ['u1', null, true]], a: ['chat/msg', { text: 'one' }], b: ['chat/msg', { text: 'two' }] },
      });
      expectObservable(chsk.recv$.pipe(map((m) => [m.id, m.data]))).toBe('-h-a--b', {
        h: ['chsk/handshake', ['u1', null, true]],
        a: ['chat/msg', { text: 'one' }],
        b: ['chat/msg', { text: 'two' }],
      });
    });
  });

  it('replies follow the marble from the moment of the send; no marble or a slow one times out', () => {
    const scheduler = newScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const chsk = mockClientChsk({
        scheduler,
        events,
        replies: { 'chat/post': { marble: '---r', values: { r: { id: 7 } } } },
      });
      // sent at frame 2: the reply comes 3 frames later and completes
      const reply$ = cold('--x').pipe(map(() => chsk.send(['chat/post', { text: 'hi' }], { timeoutMs: 100 })));
      expectObservable(reply$.pipe(map(() => 'sent'))).toBe('--s', { s: 'sent' });
      scheduler.schedule(() => expectObservable(chsk.send(['chat/post', { text: 'b' }], { timeoutMs: 100 })).toBe('---(r|)', { r: { id: 7 } }), 0);
      expectObservable(chsk.send(['chat/post', { text: 'slow' }], { timeoutMs: 2 })).toBe('--#', undefined, new ChskError('chsk/timeout', 'no reply within timeoutMs (mock)'));
      // no reply asked: completes at once
      expectObservable(chsk.send(['chat/typing', { room: 'r' }])).toBe('|');
    });
  });

  it('an unscripted request times out with chsk/timeout; # in a reply marble errors chsk/error', () => {
    const scheduler = newScheduler();
    const errors: unknown[] = [];
    scheduler.run(() => {
      const chsk = mockClientChsk({ scheduler, replies: { 'x/fails': '-#' } });
      chsk.send(['x/unscripted'], { timeoutMs: 50 }).subscribe({ error: (e: unknown) => errors.push(['unscripted', scheduler.now(), e]) });
      chsk.send(['x/fails'], { timeoutMs: 50 }).subscribe({ error: (e: unknown) => errors.push(['fails', scheduler.now(), e]) });
    });
    expect(errors.map((e) => (e as unknown[]).slice(0, 2))).toEqual([
      ['fails', 1],
      ['unscripted', 50],
    ]);
    expect(errors.map((e) => isChskError((e as unknown[])[2]) && ((e as unknown[])[2] as ChskError).code)).toEqual(['chsk/error', 'chsk/timeout']);
  });

  it('records sends with virtual times, and replies the code gave to server requests', () => {
    const scheduler = newScheduler();
    const chsk = scheduler.run(({ expectObservable }) => {
      const mock = mockClientChsk({
        scheduler,
        events,
        recv: '--q',
        values: { q: { event: ['chat/confirm', { question: 'sure?' }], reply: true } },
      });
      mock.recv$.subscribe((m) => {
        if (m.id === 'chat/confirm') {
          m.reply?.(true);
          m.reply?.(false); // only the first counts, as with the real client
        }
      });
      scheduler.schedule(() => void mock.send(['chat/typing', { room: 'a' }]), 4);
      expectObservable(mock.replied$).toBe('--r', { r: { frame: 2, id: 'chat/confirm', value: true } });
      return mock;
    });
    expect(chsk.sent).toEqual([{ frame: 4, event: ['chat/typing', { room: 'a' }] }]);
    expect(chsk.replied).toEqual([{ frame: 2, id: 'chat/confirm', value: true }]);
  });

  it('state$ is a BehaviorSubject of [old, new] pairs driven by a marble', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const chsk = mockClientChsk({ scheduler, state: '--o--c', stateValues: { o: { open: true, uid: 'u1' }, c: { open: false } } });
      expect(chsk.state.open).toBe(false);
      expectObservable(chsk.state$.pipe(map(([old, now]: StatePair) => `${String(old.open)}>${String(now.open)}`))).toBe('f-o--c', {
        f: 'false>false',
        o: 'false>true',
        c: 'true>false',
      });
    });
  });

  it('close completes recv$ and state$, later sends error chsk/closed; lifecycle calls are recorded', () => {
    const scheduler = newScheduler();
    let stateCompletedAt = -1;
    const chsk = scheduler.run(({ expectObservable }) => {
      const mock = mockClientChsk({ scheduler, recv: 'a-b-c', values: { a: ['x/a'], b: ['x/b'], c: ['x/c'] } });
      mock.state$.subscribe({ complete: () => (stateCompletedAt = scheduler.now()) });
      scheduler.schedule(() => mock.disconnect(), 1);
      scheduler.schedule(() => mock.close(), 3);
      expectObservable(mock.recv$.pipe(map((m) => m.id))).toBe('a-b|', { a: 'x/a', b: 'x/b' });
      scheduler.schedule(() => expectObservable(mock.send(['x/late'])).toBe('----#', undefined, new ChskError('chsk/closed', 'the channel socket is closed (mock)')), 4);
      return mock;
    });
    expect(stateCompletedAt).toBe(3);
    expect(chsk.calls).toEqual([
      { frame: 1, call: 'disconnect' },
      { frame: 3, call: 'close' },
    ]);
  });

  it('types: send is checked against the contract and the reply is inferred', () => {
    const scheduler = newScheduler();
    const chsk = mockClientChsk({ scheduler, events });
    expectTypeOf(chsk.send(['chat/post', { text: 'x' }], { timeoutMs: 1 })).toEqualTypeOf<Observable<{ id: number }>>();
    // @ts-expect-error wrong data
    chsk.send(['chat/post', { text: 1 }]);
    // @ts-expect-error an id the contract does not list
    chsk.send(['chat/nope', {}]);
    // @ts-expect-error a server event is not sent by the client
    mockClientChsk({ scheduler, events, recv: 'a', values: { a: ['chat/post', { text: 'x' }] } });
    // @ts-expect-error a reply value of the wrong type
    mockClientChsk({ scheduler, events, replies: { 'chat/post': { marble: 'r', values: { r: { id: 'one' } } } } });
    // untyped: msgs fit the real client's ClientEventMsg, so app code typed with it can be tested
    const untyped = mockClientChsk({ scheduler });
    expectTypeOf(untyped.recv$).toExtend<Observable<ClientEventMsg>>();
    expect(chsk.sent).toEqual([{ frame: 0, event: ['chat/post', { text: 'x' }], opts: { timeoutMs: 1 } }, { frame: 0, event: ['chat/post', { text: 1 }] }, { frame: 0, event: ['chat/nope', {}] }]);
  });
});

describe('mockServerChsk', () => {
  it('plays recv$ with senders and replies; a router under test answers; sends are recorded', () => {
    const scheduler = newScheduler();
    const server = scheduler.run(({ expectObservable }) => {
      const chsk = mockServerChsk({
        scheduler,
        events,
        recv: '-p--t',
        values: {
          p: { event: ['chat/post', { text: 'hello' }], uid: 'alice', clientId: 'tab-1', reply: true },
          t: ['chat/typing', { room: 'lobby' }],
        },
      });
      startServerChskRouter(chsk.recv$, {
        'chat/post': (m) => {
          chsk.broadcast(['chat/msg', { text: `${m.uid}: ${m.data.text}` }]);
          return { id: 1 };
        },
        'chat/typing': (m) => chsk.send({ uid: m.uid, clientId: m.clientId }, ['chat/msg', { text: 'seen' }]),
      });
      expectObservable(chsk.sent$.pipe(map((s) => s.kind))).toBe('-b--s', { b: 'broadcast', s: 'send' });
      expectObservable(chsk.replied$.pipe(map((r) => r.value))).toBe('-r', { r: { id: 1 } });
      return chsk;
    });
    expect(server.sent).toEqual([
      { frame: 1, kind: 'broadcast', event: ['chat/msg', { text: 'alice: hello' }] },
      { frame: 4, kind: 'send', target: { uid: NIL_UID, clientId: 'mock-client' }, event: ['chat/msg', { text: 'seen' }] },
    ]);
    expect(server.replied).toEqual([{ frame: 1, id: 'chat/post', value: { id: 1 }, uid: 'alice', clientId: 'tab-1' }]);
  });

  it('request: the client reply marble, its timeout, and chsk/closed after close', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const chsk = mockServerChsk({ scheduler, events, replies: { 'chat/confirm': '--y' }, replyValues: { y: true } });
      const tab = { uid: 'alice', clientId: 'tab-1' };
      expectObservable(chsk.request(tab, ['chat/confirm', { question: '?' }], { timeoutMs: 10 })).toBe('--(y|)', { y: true });
      expectObservable(chsk.request(tab, ['chat/confirm', { question: '?' }], { timeoutMs: 1 })).toBe('-#', undefined, new ChskError('chsk/timeout', 'no reply within timeoutMs (mock)'));
      scheduler.schedule(() => void chsk.close(), 5);
      scheduler.schedule(
        () => expectObservable(chsk.request(tab, ['chat/confirm', { question: '?' }], { timeoutMs: 1 })).toBe('------#', undefined, new ChskError('chsk/closed', 'the channel socket is closed (mock)')),
        6,
      );
      expect(chsk.sent.map((s) => s.kind)).toEqual(['request', 'request']);
    });
  });

  it('connectedUids$ follows its marble, starting with no one', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const chsk = mockServerChsk({ scheduler, connectedUids: '-a-b', connectedValues: { a: { ws: ['alice'] }, b: { ws: ['alice'], ajax: ['bob'] } } });
      expectObservable(chsk.connectedUids$.pipe(map((c) => [...c.any].join(',')))).toBe('0a-b', { 0: '', a: 'alice', b: 'alice,bob' });
    });
  });

  it('types: request and send are checked, the reply inferred; untyped msgs fit ServerEventMsg', () => {
    const scheduler = newScheduler();
    const chsk = mockServerChsk({ scheduler, events });
    expectTypeOf(chsk.request({ uid: 'u', clientId: 'c' }, ['chat/confirm', { question: 'q' }], { timeoutMs: 5 })).toEqualTypeOf<Observable<boolean>>();
    // @ts-expect-error a client event is not sent by the server
    chsk.send('u', ['chat/post', { text: 'x' }]);
    // @ts-expect-error wrong data
    chsk.broadcast(['chat/msg', { text: 3 }]);
    // @ts-expect-error request needs a timeout
    expect(() => chsk.request({ uid: 'u', clientId: 'c' }, ['chat/confirm', { question: 'q' }])).toThrow(/timeoutMs/);
    const untyped = mockServerChsk({ scheduler });
    expectTypeOf(untyped.recv$).toExtend<Observable<ServerEventMsg>>();
    expect(chsk.sent.map((s) => s.kind)).toEqual(['request', 'send', 'broadcast']);
  });
});

describe('the kit fails when it should', () => {
  it('a wrong marble expectation makes the TestScheduler assertion throw', () => {
    const scheduler = newScheduler();
    expect(() =>
      scheduler.run(({ expectObservable }) => {
        const chsk = mockClientChsk({ scheduler, recv: '-a', values: { a: ['x/a'] } });
        expectObservable(chsk.recv$.pipe(map((m) => m.id))).toBe('--a', { a: 'x/a' }); // one frame late: wrong
      }),
    ).toThrow();
    const scheduler2 = newScheduler();
    expect(() =>
      scheduler2.run(({ expectObservable }) => {
        const chsk = mockClientChsk({ scheduler: scheduler2 });
        chsk.send(['x/a', 1]);
        expectObservable(chsk.sent$.pipe(map((s) => s.event))).toBe('s', { s: ['x/a', 2] }); // wrong data
      }),
    ).toThrow();
  });
});
