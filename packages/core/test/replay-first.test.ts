/**
 * FirstSubscriberBuffer in marbles: what arrives before the first subscriber is kept (bounded,
 * sliding) for it, in order, then it is a plain multicast subject.
 */
import { describe, expect, it } from 'vitest';
import { take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { DEFAULT_FIRST_SUBSCRIBER_BUFFER, FirstSubscriberBuffer } from '@sente-rx/core';

const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('FirstSubscriberBuffer', () => {
  it('hands what arrived early to the first subscriber, then live values', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const buf = new FirstSubscriberBuffer<string>(10);
      hot('a-b---------c-d|').subscribe(buf);
      // the first subscriber arrives at frame 5: a and b are delivered at once, then c, d live
      expectObservable(buf.asObservable(), '-----^').toBe('-----(ab)---c-d|');
    });
  });

  it('later subscribers get live values only, even after everyone left', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const buf = new FirstSubscriberBuffer<string>(10);
      hot('a-b-------c-------d-e|').subscribe(buf);
      expectObservable(buf.asObservable(), '---^---------!').toBe('---(ab)---c');
      expectObservable(buf.asObservable(), '---------------^').toBe('------------------d-e|');
    });
  });

  it('keeps at most max values, dropping the oldest, and says how many it dropped', () => {
    const drops: number[] = [];
    scheduler().run(({ hot, expectObservable }) => {
      const buf = new FirstSubscriberBuffer<string>(2, { onDrop: (n) => drops.push(n) });
      hot('abcd------e|').subscribe(buf);
      expectObservable(buf.asObservable(), '----^').toBe('----(cd)--e|');
    });
    expect(drops).toEqual([1, 2]);
  });

  it('reports drops as they happen', () => {
    const drops: number[] = [];
    const buf = new FirstSubscriberBuffer<number>(2, { onDrop: (n) => drops.push(n) });
    for (let i = 0; i < 5; i++) buf.next(i);
    expect(drops).toEqual([1, 2, 3]);
    expect(buf.size).toBe(2);
    const got: number[] = [];
    buf.asObservable().subscribe((v) => got.push(v));
    expect(got).toEqual([3, 4]);
    expect(buf.size).toBe(0);
  });

  it('keeps an early complete or error and delivers it after the values', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const done = new FirstSubscriberBuffer<string>(5);
      hot('a-|').subscribe(done);
      expectObservable(done.asObservable(), '----^').toBe('----(a|)');
      const failed = new FirstSubscriberBuffer<string>(5);
      hot('a-#').subscribe(failed);
      expectObservable(failed.asObservable(), '----^').toBe('----(a#)');
    });
  });

  it('values that arrive while the kept ones are handed over queue behind them', () => {
    const buf = new FirstSubscriberBuffer<string>(10);
    buf.next('a');
    buf.next('b');
    const got: string[] = [];
    buf.asObservable().subscribe((v) => {
      got.push(v);
      if (v === 'a') buf.next('during');
    });
    buf.next('live');
    expect(got).toEqual(['a', 'b', 'during', 'live']);
  });

  it('a value that arrives during the hand-over of a full buffer skips none of the kept ones', () => {
    const buf = new FirstSubscriberBuffer<string>(2);
    buf.next('a');
    buf.next('b');
    const got: string[] = [];
    buf.asObservable().subscribe((v) => {
      got.push(v);
      if (v === 'a') buf.next('during');
    });
    expect(got).toEqual(['a', 'b', 'during']);
  });

  it('a first subscriber that takes one value leaves the rest to no one', () => {
    const buf = new FirstSubscriberBuffer<string>(10);
    buf.next('a');
    buf.next('b');
    const first: string[] = [];
    buf.asObservable().pipe(take(1)).subscribe((v) => first.push(v));
    const second: string[] = [];
    buf.asObservable().subscribe((v) => second.push(v));
    buf.next('c');
    expect(first).toEqual(['a']);
    expect(second).toEqual(['c']);
  });

  it('a wrong expectation fails (the marble assertions can fail)', () => {
    expect(() =>
      scheduler().run(({ hot, expectObservable }) => {
        const buf = new FirstSubscriberBuffer<string>(10);
        hot('a-b-|').subscribe(buf);
        expectObservable(buf.asObservable(), '---^').toBe('---b|'); // wrong: a is kept too
      }),
    ).toThrow();
  });

  it('rejects a bad max', () => {
    expect(() => new FirstSubscriberBuffer(-1)).toThrow(TypeError);
    expect(() => new FirstSubscriberBuffer(1.5)).toThrow(TypeError);
    expect(DEFAULT_FIRST_SUBSCRIBER_BUFFER).toBe(1_000);
  });
});
