/**
 * Many pending deadlines served by one scheduler action (issue 10): the reconnect grace periods.
 *
 * Every answered long-poll opens a grace period, and a timer per period (an `rxjs` `timer`: an
 * Observable, a subscriber and an `AsyncAction` with its own `setInterval`, cleared again when the
 * next poll comes a few ms later) cost 5–8 % of the server's CPU under Ajax load. Here a deadline
 * is a node of an intrusive list, one list per duration (a server has two: `reconnectGraceMs.ws`
 * and `.ajax`). Deadlines of one duration end in the order they started, so each list is kept in
 * deadline order by appending: starting and cancelling are O(1), and one action on the server's
 * scheduler (virtual time in tests) is set for the earliest deadline of all the lists.
 *
 * A cancel leaves that action alone (clearing and setting it on every poll is the cost this file
 * removes): when it runs it ends what is due and is set again for the earliest deadline still
 * waiting, if any. Deadlines that end at the same instant end in the order they started; a deadline
 * started while the action runs, even one already due (a duration of 0), waits for the next action,
 * as a timer started then would have.
 */
import type { SchedulerLike, Subscription } from 'rxjs';

/** One deadline of a `DeadlineQueue`: its owner keeps it and starts it again as often as it likes. */
export class Deadline<T> {
  due = 0;
  /** Start order: deadlines that end at the same instant end in it. */
  seq = 0;
  prev: Deadline<T> | null = null;
  next: Deadline<T> | null = null;
  /** The list it waits in; `null` when it is not pending. */
  lane: Lane<T> | null = null;

  constructor(readonly value: T) {}

  /** Whether it was started and has neither ended nor been cancelled. */
  get pending(): boolean {
    return this.lane !== null;
  }
}

/** The pending deadlines of one duration, in deadline order. */
class Lane<T> {
  head: Deadline<T> | null = null;
  tail: Deadline<T> | null = null;
}

export class DeadlineQueue<T> {
  private readonly lanes = new Map<number, Lane<T>>();
  private action: Subscription | null = null;
  /** When `action` runs (`Infinity`: not set). */
  private actionAt = Infinity;
  private seq = 0;
  private closed = false;

  constructor(
    private readonly scheduler: SchedulerLike,
    /** Called once per deadline that ends; a throw is handed to `onError` and the others still end. */
    private readonly onDue: (value: T) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** (Re)starts `d`: it ends `ms` from now unless cancelled or started again first. */
  start(d: Deadline<T>, ms: number): void {
    if (this.closed) return;
    this.cancel(d);
    let lane = this.lanes.get(ms);
    if (lane === undefined) this.lanes.set(ms, (lane = new Lane()));
    const now = this.scheduler.now();
    // Never before the lane's last one, so the list stays sorted even if the clock steps back.
    d.due = lane.tail === null ? now + ms : Math.max(now + ms, lane.tail.due);
    d.seq = ++this.seq;
    d.lane = lane;
    d.prev = lane.tail;
    d.next = null;
    if (lane.tail === null) lane.head = d;
    else lane.tail.next = d;
    lane.tail = d;
    if (d.due < this.actionAt) this.arm(d.due, now);
  }

  /** Cancels `d` if it is pending. O(1); the action stays set (see the file comment). */
  cancel(d: Deadline<T>): void {
    const lane = d.lane;
    if (lane === null) return;
    if (d.prev === null) lane.head = d.next;
    else d.prev.next = d.next;
    if (d.next === null) lane.tail = d.prev;
    else d.next.prev = d.prev;
    d.prev = d.next = d.lane = null;
  }

  /** Cancels every deadline and the action; later starts do nothing. */
  close(): void {
    this.closed = true;
    this.action?.unsubscribe();
    this.action = null;
    this.actionAt = Infinity;
    for (const lane of this.lanes.values()) while (lane.head !== null) this.cancel(lane.head);
    this.lanes.clear();
  }

  private arm(due: number, now: number): void {
    this.action?.unsubscribe();
    this.actionAt = due;
    this.action = this.scheduler.schedule(() => this.run(), Math.max(0, due - now));
  }

  /** The pending deadline that ends first (by time, then start order). */
  private earliest(): Deadline<T> | null {
    let first: Deadline<T> | null = null;
    for (const lane of this.lanes.values()) {
      const h = lane.head;
      if (h !== null && (first === null || h.due < first.due || (h.due === first.due && h.seq < first.seq))) first = h;
    }
    return first;
  }

  private run(): void {
    this.action = null;
    this.actionAt = Infinity;
    const now = this.scheduler.now();
    const last = this.seq;
    while (!this.closed) {
      const d = this.earliest();
      if (d === null) return;
      if (d.due > now || d.seq > last) {
        // onDue may have set the action already (by starting a deadline that ends sooner).
        if (d.due < this.actionAt) this.arm(d.due, now);
        return;
      }
      this.cancel(d);
      try {
        this.onDue(d.value);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
