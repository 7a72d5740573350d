/** The client's multicasting (hub.ts): what recv$, state$ and the transports' events rely on. */
import { describe, expect, it } from 'vitest';
import { hub, valueHub } from '../src/hub.js';

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
});
