/** The delivery check the recovery property tests share. */
import { expect } from 'vitest';

/** What a client saw, in order: an event (by its send number) or a `recovered: false` handshake. */
export type Seen = { readonly kind: 'event'; readonly n: number } | { readonly kind: 'gap' };

/**
 * `seen` holds only events sent to `name`, strictly increasing (in order, no duplicates), and every
 * owed event it lacks has a `recovered: false` between its neighbours (the exact place of the gap).
 */
export function expectDelivered(name: string, seen: readonly Seen[], sentTo: readonly (readonly string[])[], owed: (n: number) => boolean): void {
  const got = seen.flatMap((s) => (s.kind === 'event' ? [s.n] : []));
  for (let i = 1; i < got.length; i++) expect(got[i], `${name} order/dups: ${got.join(',')}`).toBeGreaterThan(got[i - 1] ?? -1);
  for (const n of got) expect(sentTo[n], `${name} got ${n}, not for it`).toContain(name);
  const delivered = new Set(got);
  for (let n = 0; n < sentTo.length; n++) {
    if (!(sentTo[n] ?? []).includes(name) || delivered.has(n) || !owed(n)) continue;
    let before = -1;
    seen.forEach((s, i) => {
      if (s.kind === 'event' && s.n < n) before = i;
    });
    const after = seen.findIndex((s) => s.kind === 'event' && s.n > n);
    const window = seen.slice(before + 1, after === -1 ? undefined : after);
    expect(
      window.some((s) => s.kind === 'gap'),
      `${name} missed ${n} with no recovered:false in its place: ${JSON.stringify(seen)}`,
    ).toBe(true);
  }
}
