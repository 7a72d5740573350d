/**
 * startClientChskRouter: the client's side of the router (the behaviour is core's, tested in
 * depth in packages/server/test/router.test.ts): server requests answered by return values,
 * reserved events routed and typed, a failing handler contained.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Subject } from 'rxjs';
import { z } from 'zod';
import { defineEvents, validateIncoming, type ClientEventMsgOf, type HandshakeData, type StatePair } from '@sente-rx/core';
import { startClientChskRouter, type ClientEventMsg } from '@sente-rx/client';

const events = defineEvents({
  client: {},
  server: {
    'chat/msg': { data: z.object({ text: z.string() }) },
    'chat/confirm': { data: z.object({ question: z.string() }), reply: z.boolean() },
  },
});
type Base = Omit<ClientEventMsg, 'event' | 'id' | 'data' | 'reply'>;
type Msg = ClientEventMsgOf<typeof events, Base>;
const base: Base = { send: () => { throw new Error('not used'); } };

describe('startClientChskRouter', () => {
  it('answers a server request with the return value and routes reserved events', async () => {
    const recv$ = new Subject<Msg>();
    const seen: string[] = [];
    const sub = startClientChskRouter(recv$, {
      'chat/confirm': async (m) => {
        expectTypeOf(m.data).toEqualTypeOf<{ question: string }>();
        return m.data.question.endsWith('?');
      },
      'chsk/handshake': (m) => {
        expectTypeOf(m.data).toEqualTypeOf<HandshakeData>();
        seen.push(`handshake:${m.data[0]}`);
      },
      'chsk/state': (m) => {
        expectTypeOf(m.data).toEqualTypeOf<StatePair>();
        seen.push(`open:${String(m.data[1].open)}`);
      },
      'chat/msg': (m) => void seen.push(`msg:${m.data.text}`),
    });
    const replies: unknown[] = [];
    const closed = { type: 'ws', open: false, everOpened: false, uid: null, handshakeData: null } as const;
    recv$.next({ ...base, id: 'chsk/handshake', event: ['chsk/handshake', ['u1', null, true]], data: ['u1', null, true] });
    recv$.next({ ...base, id: 'chsk/state', event: ['chsk/state', [closed, { ...closed, open: true }]], data: [closed, { ...closed, open: true }] });
    const pushed = validateIncoming(events, 'server', ['chat/msg', { text: 'hi' }]);
    if (pushed.ok && pushed.value[0] === 'chat/msg') recv$.next({ ...base, id: 'chat/msg', event: pushed.value, data: pushed.value[1] });
    recv$.next({ ...base, id: 'chat/confirm', event: ['chat/confirm', { question: 'ok?' }], data: { question: 'ok?' }, reply: (v) => void replies.push(v) });
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['handshake:u1', 'open:true', 'msg:hi']);
    expect(replies).toEqual([true]);
    sub.unsubscribe();
  });

  it('a failing handler is reported and answered with chsk/error; the router goes on', async () => {
    const recv$ = new Subject<Msg>();
    const failures: string[] = [];
    const seen: string[] = [];
    const sub = startClientChskRouter(
      recv$,
      {
        'chat/confirm': () => {
          throw new Error('no UI');
        },
        'chat/msg': (m) => void seen.push(m.data.text),
      },
      { errorHandler: (err, m) => void failures.push(`${m.id}: ${(err as Error).message}`) },
    );
    const replies: unknown[] = [];
    recv$.next({ ...base, id: 'chat/confirm', event: ['chat/confirm', { question: '?' }], data: { question: '?' }, reply: (v) => void replies.push(v) });
    recv$.next({ ...base, id: 'chat/msg', event: ['chat/msg', { text: 'after' }], data: { text: 'after' } });
    await new Promise((resolve) => setImmediate(resolve));
    expect(failures).toEqual(['chat/confirm: no UI']);
    expect(replies).toEqual(['chsk/error']);
    expect(seen).toEqual(['after']);
    sub.unsubscribe();
  });

  it('types: the reply must match the schema; unknown ids do not compile; untyped stays ClientEventMsg', () => {
    const recv$ = new Subject<Msg>();
    // @ts-expect-error the reply is a boolean
    startClientChskRouter(recv$, { 'chat/confirm': () => 'yes' }).unsubscribe();
    // @ts-expect-error a client→server id is not received by the client
    startClientChskRouter(recv$, { 'chat/post': () => undefined }).unsubscribe();
    const untyped$ = new Subject<ClientEventMsg>();
    const seen: unknown[] = [];
    const sub = startClientChskRouter(untyped$, {
      'any/id': (m) => {
        expectTypeOf(m).toEqualTypeOf<ClientEventMsg>();
        seen.push(m.data);
      },
    });
    untyped$.next({ ...base, id: 'any/id', event: ['any/id', 1], data: 1 });
    expect(seen).toEqual([1]);
    sub.unsubscribe();
  });
});
