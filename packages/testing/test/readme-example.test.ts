import { describe, expect, it } from 'vitest';
import { concat, distinctUntilChanged, filter, map, type Observable, of, switchMap, throttleTime, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { z } from 'zod';
import { defineEvents } from '@sente-rx/core';
import { mockClientChsk, type MockClientChsk, type MockClientMsg } from '@sente-rx/testing';

// The app's contract.
const events = defineEvents({
  client: { 'chat/typing': { data: z.object({ room: z.string() }) } },
  server: {
    'chat/typing': { data: z.object({ from: z.string() }) },
    'chat/msg': { data: z.object({ from: z.string(), text: z.string() }) },
  },
});
type Chsk = Pick<MockClientChsk<typeof events>, 'recv$' | 'send'>;

// App logic 1: the "… is typing" label. It shows on a chat/typing push, and clears after
// `clearMs` without another one, or at once when that person's message arrives.
function typingLabel(recv$: Observable<MockClientMsg<typeof events>>, clearMs = 3_000): Observable<string> {
  return recv$.pipe(
    map((m) => (m.id === 'chat/typing' ? m.data.from : m.id === 'chat/msg' ? null : undefined)),
    filter((from) => from !== undefined),
    switchMap((from) => (from === null ? of('') : concat(of(`${from} is typing…`), timer(clearMs).pipe(map(() => ''))))),
    distinctUntilChanged(),
  );
}

// App logic 2: tell the others while the user types, at most once per `everyMs`.
function announceTyping(keys$: Observable<unknown>, chsk: Chsk, room: string, everyMs = 2_000) {
  return keys$.pipe(throttleTime(everyMs)).subscribe(() => chsk.send(['chat/typing', { room }]));
}

describe('the typing indicator (README example)', () => {
  it('shows the label, keeps it while typing goes on, clears it after 3 s or on the message', () => {
    const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
    scheduler.run(({ expectObservable }) => {
      const chsk = mockClientChsk({
        scheduler,
        events,
        recv: 'a 999ms b 3999ms c 499ms d',
        values: {
          a: ['chat/typing', { from: 'bob' }],
          b: ['chat/typing', { from: 'bob' }],
          c: ['chat/typing', { from: 'ann' }],
          d: ['chat/msg', { from: 'ann', text: 'hi' }],
        },
      });
      expectObservable(typingLabel(chsk.recv$)).toBe('x 3999ms y 999ms z 499ms y', {
        x: 'bob is typing…',
        y: '',
        z: 'ann is typing…',
      });
    });
  });

  it('announces typing at most once per 2 s', () => {
    const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
    const chsk = scheduler.run(({ hot, expectObservable }) => {
      const mock = mockClientChsk({ scheduler, events });
      announceTyping(hot('k 499ms k 499ms k 1499ms k'), mock, 'lobby');
      expectObservable(mock.sent$.pipe(map((s) => s.event))).toBe('s 2499ms s', { s: ['chat/typing', { room: 'lobby' }] });
      return mock;
    });
    expect(chsk.sent.map((s) => s.frame)).toEqual([0, 2500]); // the record has the virtual times too
  });
});
