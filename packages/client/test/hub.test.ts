/** The client's multicasting (hub.ts): what recv$, state$ and the transports' events rely on. */
import { describe, expect, it } from 'vitest';
import { firstSubscriberHub, hub, valueHub } from '../src/hub.js';

describe('hub', () => {
  it('emits to every current subscriber; one added or removed during an emission counts from the next; complete ends all and later subscribers', () => {
    const h = hub<number>();
    const got: string[] = [];
    const late = { sub: null as null | { unsubscribe(): void } };
    const a = h.asObservable().subscribe((v) => {
      got.push(`a${v}`);
      if (v === 1) late.sub = h.asObservable().subscribe({ next: (w) => got.push(`late${w}`), complete: () => got.push('late|') });
    });
    h.asObservable().subscribe({ next: (v) => got.push(`b${v}`), complete: () => got.push('b|') });
    h.next(1);
    a.unsubscribe();
    h.next(2);
    h.complete();
    h.next(3);
    h.asObservable().subscribe({ next: () => got.push('never'), complete: () => got.push('after|') });
    expect(got).toEqual(['a1', 'b1', 'b2', 'late2', 'b|', 'late|', 'after|']);
  });

  it('valueHub: a new subscriber gets the current value first; value and getValue read through', () => {
    const h = valueHub('x');
    const got: string[] = [];
    h.next('y');
    h.readonly.subscribe((v) => got.push(v));
    h.next('z');
    expect(got).toEqual(['y', 'z']);
    expect(h.readonly.value).toBe('z');
    expect(h.readonly.getValue()).toBe('z');
    h.complete();
    let completed = false;
    h.readonly.subscribe({ next: (v) => got.push(`late ${v}`), complete: () => (completed = true) });
    expect(completed).toBe(true);
    expect(got).toEqual(['y', 'z']);
  });

  it('firstSubscriberHub: keeps a sliding window for the first subscriber (values sent meanwhile queue behind), then multicasts live only', () => {
    const drops: number[] = [];
    const h = firstSubscriberHub<number>(2, (n) => drops.push(n));
    h.next(1);
    h.next(2);
    h.next(3);
    expect(drops).toEqual([1]);
    const got: string[] = [];
    h.asObservable().subscribe((v) => {
      got.push(`a${v}`);
      if (v === 2) h.next(4); // arrives while the kept values are handed over
    });
    h.asObservable().subscribe((v) => got.push(`b${v}`));
    h.next(5);
    expect(got).toEqual(['a2', 'a3', 'a4', 'a5', 'b5']);
    expect(() => firstSubscriberHub(-1, () => undefined)).toThrow(TypeError);
  });

  it('firstSubscriberHub: a complete before the first subscriber reaches it after the kept values; later values are ignored', () => {
    const h = firstSubscriberHub<number>(10, () => undefined);
    h.next(1);
    h.complete();
    h.next(2);
    const got: string[] = [];
    h.asObservable().subscribe({ next: (v) => got.push(String(v)), complete: () => got.push('|') });
    h.asObservable().subscribe({ next: (v) => got.push(`late${v}`), complete: () => got.push('late|') });
    expect(got).toEqual(['1', '|', 'late|']);
  });
});
