import type { Uid } from '@sente-rx/core';
import { SnapshotSet } from '@sente-rx/server';
import { BehaviorSubject, type Observable, type SchedulerLike } from 'rxjs';
import type { ConnectedUids } from './contract.js';

/** Presence kinds of one uid, packed: 'w' ws, 'a' ajax, 'wa' both, '' none (the Redis scripts use the same letters). */
export type Kinds = '' | 'w' | 'a' | 'wa';

export const kindsOf = (on: { readonly ws: boolean; readonly ajax: boolean }): Kinds =>
  on.ws ? (on.ajax ? 'wa' : 'w') : on.ajax ? 'a' : '';

/**
 * The cluster's connected uids, published through a BehaviorSubject whose emissions are
 * coalesced: any number of changes between two runs of `scheduler` give ONE emission (scheduled
 * with delay 0 on the first change after an emission). With the default asapScheduler that is at
 * most one emission per microtask turn; with a TestScheduler, one per frame. Each emission holds
 * immutable snapshots (`SnapshotSet`, as the in-memory broker's): an emission an app keeps never
 * changes after it, and a change still costs O(1) however many uids are connected.
 */
export class PresenceSets {
  // Replaced, not cleared, on reset(): snapshots of the old sets stay as they were.
  #ws = new SnapshotSet();
  #ajax = new SnapshotSet();
  #any = new SnapshotSet();
  readonly #subject: BehaviorSubject<ConnectedUids>;
  readonly #scheduler: SchedulerLike;
  #pending = false;
  #closed = false;
  readonly uids$: Observable<ConnectedUids>;

  constructor(scheduler: SchedulerLike) {
    this.#scheduler = scheduler;
    this.#subject = new BehaviorSubject<ConnectedUids>(this.#view());
    this.uids$ = this.#subject.asObservable();
  }

  kinds(uid: Uid): Kinds {
    return kindsOf({ ws: this.#ws.has(uid), ajax: this.#ajax.has(uid) });
  }

  /** Sets the kinds of one uid; true when anything changed. */
  set(uid: Uid, kinds: Kinds): boolean {
    const w = toggle(this.#ws, uid, kinds.includes('w'));
    const a = toggle(this.#ajax, uid, kinds.includes('a'));
    const any = toggle(this.#any, uid, kinds !== '');
    if (w || a || any) this.#schedule();
    return w || a || any;
  }

  /** Replaces everything (a resync after a Redis reconnect: O(uids), once per reconnect). */
  reset(entries: Iterable<readonly [Uid, Kinds]>): void {
    this.#ws = new SnapshotSet();
    this.#ajax = new SnapshotSet();
    this.#any = new SnapshotSet();
    for (const [uid, kinds] of entries) {
      toggle(this.#ws, uid, kinds.includes('w'));
      toggle(this.#ajax, uid, kinds.includes('a'));
      toggle(this.#any, uid, kinds !== '');
    }
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    this.#subject.complete();
  }

  #view(): ConnectedUids {
    return Object.freeze({ ws: this.#ws.snapshot(), ajax: this.#ajax.snapshot(), any: this.#any.snapshot() });
  }

  #schedule(): void {
    if (this.#pending || this.#closed) return;
    this.#pending = true;
    this.#scheduler.schedule(() => {
      this.#pending = false;
      if (!this.#closed) this.#subject.next(this.#view());
    });
  }
}

function toggle(set: SnapshotSet, uid: Uid, on: boolean): boolean {
  if (on === set.has(uid)) return false;
  set.set(uid, on);
  return true;
}
