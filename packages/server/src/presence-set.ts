/**
 * A set of uids changed in place that hands out immutable snapshots in O(1) (issue 9 item 5:
 * presence cost O(users) per connect while every `connectedUids$` emission copied its sets).
 *
 * A snapshot does not copy: the newest one reads the live set through an undo map (the uids
 * changed since it was taken, with their membership then), and an older one reads through the
 * snapshots after it, back to the live set. A snapshot is copied into a set of its own
 * ("materialized") only when it is iterated, when a lookup would walk more than a few snapshots,
 * or, once per `max(size / 2, MIN_COPY_EVERY)` recorded changes, when it is superseded. That
 * copy also ends the chain: snapshots only point to newer ones, so an old snapshot someone keeps
 * holds at most one copy and O(size) undo entries, never the whole history. A copy of `size`
 * members comes after at least `size / 2` changes, so a change costs O(1) amortized (at most two
 * members copied), a snapshot O(1), `has` O(1) on the newest snapshot, and `size` O(1) on any.
 */
import type { Uid } from '@sente-rx/core';

/** A lookup on a snapshot that walks more than this many newer snapshots copies it instead. */
const MAX_WALK = 8;
/** Small sets still share: a superseded snapshot is copied at most once per this many changes. */
const MIN_COPY_EVERY = 64;

/** One immutable view of a `SnapshotSet` at the moment `snapshot()` was called. */
class Snapshot implements ReadonlySet<Uid> {
  readonly size: number;
  /** Its own copy, once materialized; then `#undo` and `#next` are dropped. */
  #data: Set<Uid> | null = null;
  /** Membership, at this snapshot, of every uid changed after it (first change only). */
  #undo: Map<Uid, boolean> | null = new Map();
  /** The next newer snapshot; `null` while this is the newest one, which reads the live set. */
  #next: Snapshot | null = null;
  readonly #owner: SnapshotSet;
  /** The owner's change count when taken. */
  readonly #version: number;

  // The owner's side is static, so a snapshot shows nothing but ReadonlySet members.

  static create(owner: SnapshotSet, live: ReadonlySet<Uid>, version: number): Snapshot {
    const s = new Snapshot(owner, live, version);
    Object.freeze(s);
    return s;
  }

  static version(s: Snapshot): number {
    return s.#version;
  }

  /** True while `s` depends on the live set through its undo map (the newest, not materialized). */
  static tracking(s: Snapshot): boolean {
    return s.#data === null && s.#next === null;
  }

  /** The owner records the membership before a change of `uid` (the first one only). */
  static recordUndo(s: Snapshot, uid: Uid, was: boolean): void {
    const undo = s.#undo;
    if (undo !== null && !undo.has(uid)) undo.set(uid, was);
  }

  /** The owner took a newer snapshot; returns how many changes `s` recorded. */
  static supersede(s: Snapshot, next: Snapshot): number {
    s.#next = next;
    return s.#undo?.size ?? 0;
  }

  static materialize(s: Snapshot): ReadonlySet<Uid> {
    return s.#materialize();
  }

  private constructor(owner: SnapshotSet, live: ReadonlySet<Uid>, version: number) {
    this.#owner = owner;
    this.size = live.size;
    this.#version = version;
  }

  has(uid: Uid): boolean {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the walk starts here
    let n: Snapshot = this;
    for (let steps = 0; steps <= MAX_WALK; steps++) {
      if (n.#data !== null) return n.#data.has(uid);
      const was = n.#undo?.get(uid);
      if (was !== undefined) return was;
      if (n.#next === null) return this.#owner.liveHas(uid);
      n = n.#next;
    }
    return this.#materialize().has(uid);
  }

  /** Copies this snapshot's members into a set of its own (once) and returns it. */
  #materialize(): ReadonlySet<Uid> {
    if (this.#data !== null) return this.#data;
    const path: Snapshot[] = [];
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the walk starts here
    let n: Snapshot = this;
    for (;;) {
      if (n.#data !== null) break;
      path.push(n);
      if (n.#next === null) break;
      n = n.#next;
    }
    const data = this.#owner.copyOf(n.#data ?? this.#owner.liveView());
    // Newest first: each undo map turns the members of the snapshot after it into its own.
    for (let i = path.length - 1; i >= 0; i--) {
      for (const [uid, was] of path[i]!.#undo ?? []) {
        if (was) data.add(uid);
        else data.delete(uid);
      }
    }
    this.#data = data;
    this.#undo = null;
    this.#next = null;
    return data;
  }

  forEach(callbackfn: (value: Uid, value2: Uid, set: ReadonlySet<Uid>) => void, thisArg?: unknown): void {
    for (const uid of this.#materialize()) callbackfn.call(thisArg, uid, uid, this);
  }

  entries(): SetIterator<[Uid, Uid]> {
    return this.#materialize().entries();
  }

  keys(): SetIterator<Uid> {
    return this.#materialize().keys();
  }

  values(): SetIterator<Uid> {
    return this.#materialize().values();
  }

  [Symbol.iterator](): SetIterator<Uid> {
    return this.#materialize().values();
  }

  get [Symbol.toStringTag](): string {
    return 'Set';
  }
}

/** Counts of the work done, for tests that pin the cost per change without a clock. */
export interface SnapshotSetStats {
  /** Members copied into materialized snapshots, in total. */
  readonly copied: number;
  /** Snapshots taken that differ from the one before. */
  readonly snapshots: number;
}

export class SnapshotSet {
  readonly #live = new Set<Uid>();
  /** The newest snapshot handed out (`null` before the first). */
  #head: Snapshot | null = null;
  /** Changes so far; a snapshot taken at the same count is the same snapshot. */
  #version = 0;
  /** Undo entries recorded since the last superseded snapshot that was materialized. */
  #sinceCopy = 0;
  #copied = 0;
  #snapshots = 0;

  get size(): number {
    return this.#live.size;
  }

  has(uid: Uid): boolean {
    return this.#live.has(uid);
  }

  /** Adds (`on`) or removes `uid`; O(1). */
  set(uid: Uid, on: boolean): void {
    const live = this.#live;
    if (live.has(uid) === on) return;
    const head = this.#head;
    if (head !== null && Snapshot.tracking(head)) Snapshot.recordUndo(head, uid, !on);
    if (on) live.add(uid);
    else live.delete(uid);
    this.#version += 1;
  }

  /** An immutable view of the members now; O(1) (amortized, see the module comment). */
  snapshot(): ReadonlySet<Uid> {
    const head = this.#head;
    if (head !== null && Snapshot.version(head) === this.#version) return head;
    const next = Snapshot.create(this, this.#live, this.#version);
    this.#snapshots += 1;
    if (head !== null && Snapshot.tracking(head)) {
      this.#sinceCopy += Snapshot.supersede(head, next);
      // Bounds what a kept old snapshot can hold on to, for one copy per `size` changes.
      if (this.#sinceCopy >= Math.max(MIN_COPY_EVERY, this.#live.size / 2)) {
        Snapshot.materialize(head);
        this.#sinceCopy = 0;
      }
    }
    this.#head = next;
    return next;
  }

  get stats(): SnapshotSetStats {
    return { copied: this.#copied, snapshots: this.#snapshots };
  }

  /** @internal For snapshots: the live set's membership. */
  liveHas(uid: Uid): boolean {
    return this.#live.has(uid);
  }

  /** @internal For snapshots: the live set, read-only, to copy from. */
  liveView(): ReadonlySet<Uid> {
    return this.#live;
  }

  /** @internal For snapshots: a counted copy. */
  copyOf(from: ReadonlySet<Uid>): Set<Uid> {
    this.#copied += from.size;
    return new Set(from);
  }
}
