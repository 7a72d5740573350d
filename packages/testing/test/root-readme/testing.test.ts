/** The root README's "Testing your app" snippet: it runs in the suite (root-readme.test.ts keeps the copies equal). */
// #region readme
import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { expect, it } from 'vitest';
import { startServerChskRouter } from '@sente-rx/server';
import { mockServerChsk } from '@sente-rx/testing';
import { events } from './events.js';

it('broadcasts each post and replies with its id', () => {
  const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  scheduler.run(({ expectObservable }) => {
    const chsk = mockServerChsk({
      scheduler,
      events,
      recv: '-p 99ms p',                       // two posts by alice, 100 ms apart
      values: { p: { event: ['chat/post', { room: 'lobby', text: 'hi' }], uid: 'alice', reply: true } },
    });
    let lastId = 0;
    startServerChskRouter(chsk.recv$, {        // the app code under test
      'chat/post': (msg) => {
        const id = ++lastId;
        chsk.broadcast(['chat/msg', { id, from: msg.uid, text: msg.data.text }]);
        return { id };
      },
    });
    expectObservable(chsk.sent$.pipe(map((s) => [s.kind, s.event[1]]))).toBe('-a 99ms b', {
      a: ['broadcast', { id: 1, from: 'alice', text: 'hi' }],
      b: ['broadcast', { id: 2, from: 'alice', text: 'hi' }],
    });
    expectObservable(chsk.replied$.pipe(map((r) => r.value))).toBe('-x 99ms y', { x: { id: 1 }, y: { id: 2 } });
  });
});
// #endregion readme
