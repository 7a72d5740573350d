/**
 * SnapshotSet (the sets behind connectedUids$): every snapshot keeps the members it was taken
 * with while the set changes on, against a model that copies; and the work per change is O(1)
 * amortized, counted (members copied), never timed (issue 9 item 5).
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 as prng } from '@sente-rx/fixtures/prng';
import { SnapshotSet } from '../src/presence-set.js';


describe('SnapshotSet', () => {
  it('every snapshot keeps its members (has, size, iteration, forEach) while the set changes on', () => {
    // Mismatches are collected and compared once (an expect per lookup would be most of the run).
    const wrong: string[] = [];
    for (const seed of [1, 2, 3]) {
      const rand = prng(seed);
      const set = new SnapshotSet();
      const model = new Set<string>();
      const kept: { snap: ReadonlySet<string>; expected: Set<string>; at: number }[] = [];
      for (let step = 0; step < 3_000; step++) {
        const uid = `u${Math.floor(rand() * 200)}`;
        const on = rand() < 0.6;
        set.set(uid, on);
        if (on) model.add(uid);
        else model.delete(uid);
        if (set.has(uid) !== on || set.size !== model.size) wrong.push(`seed ${seed} step ${step}: live set`);
        if (rand() < 0.1) kept.push({ snap: set.snapshot(), expected: new Set(model), at: step });
        // Read an old snapshot at random points: a lookup may materialize it, or walk newer ones.
        if (kept.length > 0 && rand() < 0.2) {
          const k = kept[Math.floor(rand() * kept.length)]!;
          const probe = `u${Math.floor(rand() * 200)}`;
          if (k.snap.has(probe) !== k.expected.has(probe)) wrong.push(`seed ${seed} step ${step}: has(${probe}) on the snapshot of step ${k.at}`);
        }
      }
      for (const { snap, expected, at } of kept) {
        const where = `seed ${seed}, snapshot of step ${at}`;
        if (snap.size !== expected.size) wrong.push(`${where}: size`);
        for (let i = 0; i < 200; i++) if (snap.has(`u${i}`) !== expected.has(`u${i}`)) wrong.push(`${where}: has(u${i})`);
        const members = [...expected].sort().join();
        if ([...snap].sort().join() !== members) wrong.push(`${where}: iteration`);
        if ([...snap.keys()].sort().join() !== members || [...snap.entries()].map(([a]) => a).sort().join() !== members) wrong.push(`${where}: keys/entries`);
        const seen: string[] = [];
        snap.forEach((v, v2, s) => {
          if (v2 !== v || s !== snap) wrong.push(`${where}: forEach arguments`);
          seen.push(v);
        });
        if (seen.sort().join() !== members) wrong.push(`${where}: forEach`);
      }
      expect(kept.length).toBeGreaterThan(100);
    }
    expect(wrong).toEqual([]);
  });

  it('an unchanged set hands out the same snapshot; a snapshot is not a live view', () => {
    const set = new SnapshotSet();
    set.set('a', true);
    const s1 = set.snapshot();
    expect(set.snapshot()).toBe(s1);
    set.set('a', true); // no change
    expect(set.snapshot()).toBe(s1);
    set.set('b', true);
    set.set('b', false); // changed and back: a new snapshot, same members
    const s2 = set.snapshot();
    expect(s2).not.toBe(s1);
    expect([...s2]).toEqual(['a']);
    set.set('c', true);
    expect(s2.has('c')).toBe(false);
    expect(s2.size).toBe(1);
    expect(Object.prototype.toString.call(s2)).toBe('[object Set]');
    // Nothing but ReadonlySet members to reach or change.
    expect(Object.isFrozen(s2)).toBe(true);
    expect(Object.keys(s2)).toEqual(['size']);
    expect(Object.getOwnPropertyNames(Object.getPrototypeOf(s2)).sort()).toEqual(['constructor', 'entries', 'forEach', 'has', 'keys', 'values'].sort());
  });

  it('a change followed by a snapshot costs O(1) amortized: copies stay proportional to the changes, not to changes × users', () => {
    const set = new SnapshotSet();
    const n = 20_000;
    // Users arrive one at a time, each emitted (the worst case for the broker: one change per window),
    // while the app reads the newest snapshot after each (has: O(1), no copy).
    for (let i = 0; i < n; i++) {
      set.set(`u${i}`, true);
      const snap = set.snapshot();
      expect(snap.has(`u${i}`)).toBe(true);
    }
    for (let i = 0; i < n; i += 2) {
      set.set(`u${i}`, false);
      set.snapshot();
    }
    expect(set.stats.snapshots).toBe(n + n / 2);
    // Copying every snapshot would copy n²/2 + … ≈ 3·10⁸ members; sharing copies one set per
    // max(size / 2, 64) changes: at most two members per change.
    expect(set.stats.copied).toBeLessThan(4 * (n + n / 2));
    expect(set.size).toBe(n / 2);
  });

  it('an old snapshot kept across many changes still answers, for one copy at most', () => {
    const set = new SnapshotSet();
    for (let i = 0; i < 100; i++) set.set(`u${i}`, true);
    const old = set.snapshot();
    // Many changes later, `old` still answers, and reading it costs one copy at most.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) set.set(`r${round}-${i}`, true);
      set.snapshot();
    }
    const before = set.stats.copied;
    expect(old.has('u5')).toBe(true);
    expect(old.has('r3-5')).toBe(false);
    expect([...old].length).toBe(100);
    expect(old.size).toBe(100);
    // Superseded snapshots were copied along the way (each ends the chain for older ones).
    expect(set.stats.copied - before).toBeLessThanOrEqual(set.size);
  });
});
