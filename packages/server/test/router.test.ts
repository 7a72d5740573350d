/**
 * startServerChskRouter: routing by id, replies from return values (value, Promise, Observable),
 * error isolation for each handler kind (proven at the process level too), stopping, and the
 * types a contract gives the handlers.
 */
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { NEVER, Observable, of, Subject, throwError, timer, map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { z } from 'zod';
import { defineEvents, validateIncoming, type Logger, type ServerEventMsgOf, type UntypedContract } from '@sente-rx/core';
import { startServerChskRouter, type ServerEventMsg } from '@sente-rx/server';

type Base = Omit<ServerEventMsg, 'event' | 'id' | 'data' | 'reply'>;
const base: Base = {
  uid: 'alice',
  clientId: 'tab-1',
  request: { transport: 'ws', method: 'GET', url: '/chsk', headers: {}, remoteAddress: '127.0.0.1' },
  send: () => undefined,
};

/** A server event-msg; with `replies` it has a reply that records each call. */
function msg(id: string, data?: unknown, replies?: unknown[]): ServerEventMsg {
  return { ...base, event: [id, data], id, data, ...(replies === undefined ? {} : { reply: (v: unknown) => void replies.push(v) }) };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function recordingLogger(): Logger & { readonly errors: { msg: string; data?: Record<string, unknown> }[] } {
  const errors: { msg: string; data?: Record<string, unknown> }[] = [];
  const noop = (): void => undefined;
  return { errors, debug: noop, info: noop, warn: noop, error: (m, data) => void errors.push({ msg: m, ...(data ? { data } : {}) }) };
}

describe('startServerChskRouter', () => {
  it('routes by id, falls back to default, ignores the rest when there is no default', () => {
    const recv$ = new Subject<ServerEventMsg>();
    const seen: string[] = [];
    const sub = startServerChskRouter(recv$, {
      'chat/post': (m) => void seen.push(`post:${String(m.data)}`),
      default: (m) => void seen.push(`default:${m.id}`),
    });
    recv$.next(msg('chat/post', 'hi'));
    recv$.next(msg('chat/other'));
    recv$.next(msg('chsk/uidport-open', 'alice'));
    sub.unsubscribe();
    const seen2: string[] = [];
    const sub2 = startServerChskRouter(recv$, { 'chat/post': (m) => void seen2.push(m.id) });
    recv$.next(msg('chat/other'));
    recv$.next(msg('chat/post'));
    sub2.unsubscribe();
    expect(seen).toEqual(['post:hi', 'default:chat/other', 'default:chsk/uidport-open']);
    expect(seen2).toEqual(['chat/post']);
  });

  it('a returned value, Promise or Observable (first value) becomes the reply', async () => {
    const recv$ = new Subject<ServerEventMsg>();
    let finalized = false;
    const sub = startServerChskRouter(recv$, {
      'a/value': () => 1,
      'a/promise': async () => 2,
      'a/observable': () => new Observable<number>((s) => {
        s.next(3);
        s.next(4);
        return () => (finalized = true);
      }),
      'a/null': () => null,
    });
    const replies: unknown[] = [];
    recv$.next(msg('a/value', undefined, replies));
    recv$.next(msg('a/promise', undefined, replies));
    recv$.next(msg('a/observable', undefined, replies));
    recv$.next(msg('a/null', undefined, replies));
    await flush();
    expect(replies).toEqual([1, 3, null, 2]);
    expect(finalized).toBe(true); // only the first value is taken
    sub.unsubscribe();
  });

  it('does not reply twice when the handler replied itself, and sends nothing for undefined', async () => {
    const recv$ = new Subject<ServerEventMsg>();
    const sub = startServerChskRouter(recv$, {
      'a/self': (m) => {
        m.reply?.('mine');
        return 'returned';
      },
      'a/self-async': async (m) => {
        m.reply?.('mine-async');
        return 'returned';
      },
      'a/undefined': () => undefined,
      'a/empty': () => of(),
    });
    const self: unknown[] = [];
    const selfAsync: unknown[] = [];
    const none: unknown[] = [];
    recv$.next(msg('a/self', undefined, self));
    recv$.next(msg('a/self-async', undefined, selfAsync));
    recv$.next(msg('a/undefined', undefined, none));
    recv$.next(msg('a/empty', undefined, none));
    await flush();
    expect(self).toEqual(['mine']);
    expect(selfAsync).toEqual(['mine-async']);
    expect(none).toEqual([]);
    sub.unsubscribe();
  });

  it('a return value is ignored when no reply was asked for', async () => {
    const recv$ = new Subject<ServerEventMsg>();
    const handled: string[] = [];
    const sub = startServerChskRouter(recv$, { default: (m) => (handled.push(m.id), 'ignored') });
    const m = msg('a/fire');
    recv$.next(m);
    await flush();
    expect(handled).toEqual(['a/fire']);
    expect(m.reply).toBeUndefined();
    sub.unsubscribe();
  });

  it('replies in virtual time when an Observable result emits later', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const recv$ = cold<ServerEventMsg>('a-b', { a: msg('a/slow'), b: msg('a/slow') });
      const replies$ = new Subject<unknown>();
      const withReply = recv$.pipe(map((m) => ({ ...m, reply: (v: unknown) => replies$.next(v) })));
      startServerChskRouter(withReply, { 'a/slow': (m) => timer(5).pipe(map(() => `done:${m.id}`)) });
      expectObservable(replies$).toBe('-----x-x', { x: 'done:a/slow' });
    });
  });

  describe('error isolation', () => {
    const processEvents: string[] = [];
    const onRejection = (reason: unknown): void => void processEvents.push(`unhandledRejection:${String(reason)}`);
    const onException = (err: unknown): void => void processEvents.push(`uncaughtException:${String(err)}`);
    beforeEach(() => {
      processEvents.length = 0;
      process.on('unhandledRejection', onRejection);
      process.on('uncaughtException', onException);
    });
    afterEach(() => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    });

    it.each([
      ['throws', () => {
        throw new Error('sync boom');
      }, 'sync boom'],
      ['rejects', () => Promise.reject(new Error('async boom')), 'async boom'],
      ['errors (Observable)', () => throwError(() => new Error('rx boom')), 'rx boom'],
    ] as const)('a handler that %s goes to errorHandler, the sender gets chsk/error, the router goes on', async (_kind, handler, text) => {
      const recv$ = new Subject<ServerEventMsg>();
      const failures: { err: unknown; id: string }[] = [];
      const after: string[] = [];
      const sub = startServerChskRouter(
        recv$,
        { 'a/bad': handler, 'a/good': (m) => void after.push(m.id) },
        { errorHandler: (err, m) => void failures.push({ err, id: m.id }) },
      );
      const replies: unknown[] = [];
      recv$.next(msg('a/bad', undefined, replies));
      recv$.next(msg('a/bad')); // no reply asked: only reported
      await flush();
      recv$.next(msg('a/good'));
      await flush();
      await flush();
      expect(failures.map((f) => [f.id, (f.err as Error).message])).toEqual([
        ['a/bad', text],
        ['a/bad', text],
      ]);
      expect(replies).toEqual(['chsk/error']);
      expect(after).toEqual(['a/good']);
      expect(sub.closed).toBe(false);
      expect(processEvents).toEqual([]);
      sub.unsubscribe();
    });

    it('by default a failure is logged at error level through the logger', async () => {
      const recv$ = new Subject<ServerEventMsg>();
      const logger = recordingLogger();
      const sub = startServerChskRouter(recv$, { 'a/bad': async () => Promise.reject(new TypeError('nope')) }, { logger });
      recv$.next(msg('a/bad'));
      await flush();
      expect(logger.errors).toEqual([{ msg: 'sente-rx: an event handler failed', data: { id: 'a/bad', error: 'TypeError: nope' } }]);
      expect(processEvents).toEqual([]);
      sub.unsubscribe();
    });

    it('an errorHandler that throws, or a reply that throws, is logged and contained', async () => {
      const recv$ = new Subject<ServerEventMsg>();
      const logger = recordingLogger();
      const sub = startServerChskRouter(
        recv$,
        { 'a/bad': () => Promise.reject(new Error('first')), 'a/ok': () => 'fine' },
        {
          logger,
          errorHandler: () => {
            throw new Error('handler of handlers');
          },
        },
      );
      recv$.next(msg('a/bad'));
      recv$.next({
        ...msg('a/ok'),
        reply: () => {
          throw new Error('reply broke');
        },
      });
      await flush();
      expect(logger.errors.map((e) => e.msg)).toEqual(['sente-rx: the router errorHandler threw', 'sente-rx: the router errorHandler threw']);
      expect(logger.errors.map((e) => e.data?.original)).toEqual(['Error: reply broke', 'Error: first']);
      expect(processEvents).toEqual([]);
      expect(sub.closed).toBe(false);
      sub.unsubscribe();
    });
  });

  it('unsubscribing stops routing, cancels pending Observable results and drops late Promise replies', async () => {
    const recv$ = new Subject<ServerEventMsg>();
    let cancelled = 0;
    let resolveLate: (v: string) => void = () => undefined;
    const handled: string[] = [];
    const sub = startServerChskRouter(recv$, {
      'a/pending': () => new Observable<string>(() => () => void cancelled++),
      'a/late': () => new Promise<string>((resolve) => (resolveLate = resolve)),
      default: (m) => void handled.push(m.id),
    });
    const replies: unknown[] = [];
    recv$.next(msg('a/pending', undefined, replies));
    recv$.next(msg('a/late', undefined, replies));
    sub.unsubscribe();
    expect(cancelled).toBe(1);
    resolveLate('too late');
    recv$.next(msg('a/after'));
    await flush();
    expect(replies).toEqual([]);
    expect(handled).toEqual([]);
    expect(recv$.observed).toBe(false);
  });

  it('a recv$ that errors stops the router with a log, not a throw', () => {
    const logger = recordingLogger();
    const sub = startServerChskRouter(throwError(() => new Error('gone')), {}, { logger });
    expect(sub.closed).toBe(true);
    expect(logger.errors).toEqual([{ msg: 'sente-rx: the router stopped: recv$ errored', data: { error: 'Error: gone' } }]);
    expect(startServerChskRouter(of<ServerEventMsg>(), {}).closed).toBe(true); // completed (the socket closed)
  });

  describe('types', () => {
    const events = defineEvents({
      client: {
        'chat/post': { data: z.object({ text: z.string() }), reply: z.object({ id: z.number() }) },
        'chat/typing': { data: z.object({ room: z.string() }) },
      },
      server: {},
    });
    type Msg = ServerEventMsgOf<typeof events, Base>;

    it('narrows each handler to its id and checks the return against the reply schema', () => {
      const recv$ = new Subject<Msg>();
      const sub = startServerChskRouter(recv$, {
        'chat/post': (m) => {
          expectTypeOf(m.data).toEqualTypeOf<{ text: string }>();
          expectTypeOf(m.uid).toEqualTypeOf<string>();
          return { id: m.data.text.length };
        },
        'chat/typing': (m) => m.data.room.length, // no reply declared: any return is fine
        'chsk/uidport-open': (m) => {
          expectTypeOf(m.data).toEqualTypeOf<string>();
        },
        default: (m) => {
          expectTypeOf(m).toEqualTypeOf<Msg>();
        },
      });
      startServerChskRouter(recv$, {
        // @ts-expect-error the reply must be { id: number }
        'chat/post': () => ({ id: 'x' }),
      }).unsubscribe();
      startServerChskRouter(recv$, {
        // @ts-expect-error a Promise of the wrong reply
        'chat/post': async () => 'x',
      }).unsubscribe();
      startServerChskRouter(recv$, {
        // @ts-expect-error an id the contract does not list
        'chat/nope': () => undefined,
      }).unsubscribe();
      // what a factory does: validate, then put the validated event on recv$
      const checked = validateIncoming(events, 'client', ['chat/post', { text: 'abc', extra: 1 }], { replyAsked: true });
      expect(checked.ok).toBe(true);
      const replies: unknown[] = [];
      if (checked.ok && checked.value[0] === 'chat/post') {
        const [id, data] = checked.value;
        recv$.next({ ...base, id, event: checked.value, data, reply: (v) => void replies.push(v) });
      }
      expect(replies).toEqual([{ id: 3 }]);
      sub.unsubscribe();
    });

    it('without a contract any id is accepted and msg is ServerEventMsg', () => {
      const recv$ = new Subject<ServerEventMsg>();
      const sub = startServerChskRouter(recv$, {
        'whatever/id': (m) => {
          expectTypeOf(m).toEqualTypeOf<ServerEventMsg>();
          return m.data;
        },
      });
      const replies: unknown[] = [];
      recv$.next(msg('whatever/id', 5, replies));
      expect(replies).toEqual([5]);
      sub.unsubscribe();
      // the untyped msg is the contract-free ServerEventMsgOf
      expectTypeOf<ServerEventMsgOf<UntypedContract, Base>>().toEqualTypeOf<ServerEventMsg>();
    });

    it('NEVER as a result keeps the reply pending without error', () => {
      const recv$ = new Subject<ServerEventMsg>();
      const replies: unknown[] = [];
      const sub = startServerChskRouter(recv$, { 'a/never': () => NEVER });
      recv$.next(msg('a/never', undefined, replies));
      expect(replies).toEqual([]);
      sub.unsubscribe();
    });
  });
});
