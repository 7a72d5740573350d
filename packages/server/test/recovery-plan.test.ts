/**
 * The server's recovery planning (src/recovery.ts) with the client's tracker, over the in-memory
 * log, in virtual time: a model node keeps live clients, grace-period queues and reconnects, and
 * any interleaving of sends (to the uid, to one client, to everyone), silent losses, disconnects,
 * expiries, time passing and reconnects (with sends landing while the log is read) must give each
 * client the sent sequence in order without duplicates, or a `recovered: false` exactly where a
 * gap is.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VirtualTimeScheduler } from 'rxjs';
import { type ChskEvent, type Position, type PositionQuery, silentLogger } from '@sente-rx/core';
import { inMemoryBroker } from '../src/broker.js';
import { MemoryLog, startInReplacedLog } from '../src/log.js';
import { expectDelivered, type Seen } from './recovery-check.js';
import { createRecoveryTracker } from '../../client/src/recovery.js';
import { type LogEntry, mergeReplay, planPoll, planStart, positionedBatch, type RecoveryLog, resolveRecoveryOption, runStart, startBefore } from '../src/recovery.js';

const UID = 'alice';
/** fast-check's seed for the property (see there); `SENTE_RECOVERY_SEED=N` runs 300 other cases. */
const SEED = Number(process.env['SENTE_RECOVERY_SEED'] ?? 20_261_202);
const BOUNDS = { maxEvents: 10, maxAgeMs: 1_000, metaTtlMs: 10_000 };
const CLIENTS = ['c1', 'c2'] as const;
type ClientName = (typeof CLIENTS)[number];

type Action =
  | { readonly kind: 'send-uid' }
  | { readonly kind: 'send-client'; readonly to: ClientName }
  | { readonly kind: 'broadcast' }
  | { readonly kind: 'disconnect'; readonly who: ClientName }
  | { readonly kind: 'lose'; readonly who: ClientName }
  | { readonly kind: 'expire'; readonly who: ClientName }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'flush' }
  | { readonly kind: 'reconnect'; readonly who: ClientName; readonly during: readonly (readonly [turns: number, flush: boolean])[] };

const who = fc.constantFrom(...CLIENTS);
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'send-uid' as const }) },
  { weight: 2, arbitrary: who.map((to) => ({ kind: 'send-client' as const, to })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'broadcast' as const }) },
  { weight: 2, arbitrary: who.map((w) => ({ kind: 'disconnect' as const, who: w })) },
  { weight: 1, arbitrary: who.map((w) => ({ kind: 'lose' as const, who: w })) },
  { weight: 1, arbitrary: who.map((w) => ({ kind: 'expire' as const, who: w })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 80 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  // published events reach the node's clients only at a flush (a send buffer, a cluster bus)
  { weight: 4, arbitrary: fc.constant({ kind: 'flush' as const }) },
  // `during`: sends issued while the log is read, each after that many microtask turns, then maybe flushed
  { weight: 3, arbitrary: fc.tuple(who, fc.array(fc.tuple(fc.nat({ max: 4 }), fc.boolean()), { maxLength: 4 })).map(([w, during]) => ({ kind: 'reconnect' as const, who: w, during })) },
);

interface LoggedEventLike extends LogEntry {
  readonly clientId?: string;
}

class ModelClient {
  /** live: gets pushes; lost: the node thinks so, but pushes vanish; grace: queued; gone: nothing; joining: queued during a start */
  state: 'new' | 'live' | 'lost' | 'grace' | 'gone' | 'joining' = 'new';
  pending: LogEntry[] = [];
  readonly tracker = createRecoveryTracker(silentLogger);
  readonly seen: Seen[] = [];
  /**
   * Where its first handshake put it: it is owed every event after this position. (The cut of a
   * first connect is the log's head when it was read, lowered to just before what was held for
   * the connection: events before it are not owed, and none after it may be missing.)
   */
  cut: Position | undefined;
  /** Sends the node handed to this client's connection (live or queued): owed whatever the cut, unless published before it first registered. */
  readonly handed = new Set<number>();
  registeredAt = Infinity;

  constructor(readonly name: ClientName) {}

  receive(epoch: string, entries: readonly LogEntry[]): void {
    for (const ev of this.tracker.filter(positionedBatch(epoch, entries))) this.seen.push({ kind: 'event', n: (ev as readonly [string, number])[1] });
  }
}

async function run(actions: readonly Action[], maxEvents: number, maxAgeMs: number): Promise<Map<ClientName, readonly Seen[]>> {
  const scheduler = new VirtualTimeScheduler();
  // (The log's metadata lives 24 h, beyond any run: a uid log forgotten under a live connection is not modelled.)
  const broker = inMemoryBroker({ recovery: { maxEvents, maxAgeMs }, scheduler });
  const { history, head } = broker;
  if (history === undefined || head === undefined) throw new Error('the in-memory broker keeps no log');
  const log: RecoveryLog = { history: history.bind(broker), head: head.bind(broker), settled: () => Promise.resolve() };
  const clients = new Map(CLIENTS.map((c) => [c, new ModelClient(c)]));
  const epochOf = new Map<ModelClient, string>();
  const inflight: LoggedEventLike[] = [];
  /** Where each send landed in the log. */
  const placeOf = new Map<number, LoggedEventLike>();
  const flush = (): void => {
    for (const e of inflight.splice(0)) {
      for (const c of clients.values()) {
        if (e.clientId !== undefined && e.clientId !== c.name) continue;
        const entry: LogEntry = { event: e.event, stream: e.stream, seq: e.seq };
        if (c.state === 'live' || c.state === 'joining' || c.state === 'grace') c.handed.add((e.event as readonly [string, number])[1]);
        if (c.state === 'live') c.receive(epochOf.get(c) ?? '', [entry]);
        else if (c.state === 'grace' || c.state === 'joining') c.pending.push(entry);
      }
    }
  };
  /** For each send index: which clients it is for. */
  const sentTo: (readonly ClientName[])[] = [];
  broker.connect({
    nodeId: 'n1',
    deliver(msg) {
      for (const e of msg.logged ?? []) {
        placeOf.set((e.event as readonly [string, number])[1], e);
        inflight.push(e);
      }
    },
    request: () => undefined,
    // (the node holds everything: the in-memory broker delivers every publish to it)
    reply: () => undefined,
    uidport: () => undefined,
  });
  broker.localPresence(UID, { ws: true, ajax: false });

  const send = (target: 'uid' | 'all' | ClientName): void => {
    const n = sentTo.length;
    sentTo.push(target === 'uid' || target === 'all' ? CLIENTS : [target]);
    const event: ChskEvent = ['app/ev', n];
    if (target === 'uid') broker.publish({ kind: 'uid', uid: UID }, [event], false);
    else if (target === 'all') broker.publish({ kind: 'all' }, [event], false);
    else broker.publish({ kind: 'client', uid: UID, clientId: target }, [event], false);
  };

  const reconnect = async (c: ModelClient, during: readonly (readonly [number, boolean])[]): Promise<void> => {
    if (c.state === 'live' || c.state === 'lost') c.state = 'grace';
    const pos = c.tracker.position;
    const q: Exclude<PositionQuery, { kind: 'absent' }> = pos === undefined ? { kind: 'none' } : { kind: 'position', position: pos };
    let failure: unknown;
    const done = new Promise<void>((resolve) => {
      runStart(log, UID, c.name, q, {
        register: () => {
          // the new connection takes over the queue of the one in its grace period, if any
          if (c.state !== 'grace') c.pending = [];
          c.state = 'joining';
          c.registeredAt = Math.min(c.registeredAt, sentTo.length);
          return true;
        },
        current: () => c.state === 'joining',
        pending: () => c.pending,
        apply: (plan) => {
          c.pending = [];
          c.tracker.onHandshake(plan.recovery);
          if (plan.recovery.recovered === false) c.seen.push({ kind: 'gap' });
          epochOf.set(c, plan.recovery.position.epoch);
          c.cut ??= plan.recovery.position;
          c.state = 'live';
          c.receive(plan.recovery.position.epoch, plan.entries);
          resolve();
        },
        failed: (err) => {
          failure = err;
          resolve();
        },
      });
    });
    for (const [turns, now] of during) {
      for (let i = 0; i < turns; i++) await Promise.resolve();
      send('uid');
      if (now) flush();
    }
    await done;
    expect(failure).toBeUndefined();
  };

  for (const a of actions) {
    switch (a.kind) {
      case 'send-uid':
        send('uid');
        break;
      case 'send-client':
        send(a.to);
        break;
      case 'broadcast':
        send('all');
        break;
      case 'disconnect': {
        const c = clients.get(a.who);
        if (c !== undefined && (c.state === 'live' || c.state === 'lost')) {
          c.state = 'grace';
          c.pending = [];
        }
        break;
      }
      case 'lose': {
        const c = clients.get(a.who);
        if (c?.state === 'live') c.state = 'lost';
        break;
      }
      case 'expire': {
        const c = clients.get(a.who);
        if (c?.state === 'grace') {
          c.state = 'gone';
          c.pending = [];
        }
        break;
      }
      case 'flush':
        flush();
        break;
      case 'advance':
        scheduler.frame += a.ms;
        break;
      case 'reconnect': {
        const c = clients.get(a.who);
        if (c !== undefined) await reconnect(c, a.during);
        break;
      }
    }
  }
  // Everyone comes back at the end, so every event owed is either delivered or explained by a gap.
  flush();
  for (const c of clients.values()) if (c.state !== 'new') await reconnect(c, []);
  flush();

  for (const c of clients.values()) {
    const cut = c.cut;
    if (cut === undefined) continue;
    expectDelivered(c.name, c.seen, sentTo, (n) => {
      const place = placeOf.get(n);
      // owed: handed to its connection after it registered, or after its first handshake's position
      return (c.handed.has(n) && n >= c.registeredAt) || (place !== undefined && place.seq > (place.stream === 'u' ? cut.u : cut.g));
    });
  }
  await broker.close();
  return new Map([...clients].map(([k, c]) => [k, c.seen]));
}

describe('recovery planning (property, virtual time, in-memory log)', () => {
  it('every client gets its sequence in order, once, or recovered:false exactly at a gap', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 60 }), fc.integer({ min: 3, max: 30 }), fc.integer({ min: 50, max: 300 }), async (actions, maxEvents, maxAgeMs) => {
        await run(actions, maxEvents, maxAgeMs);
      },
      ),
      // A fixed seed: the same 300 cases on every run, so a failure is reproducible. A random seed
      // found the race below (seed 1923860517), which every run now checks on its own.
      { numRuns: 300, seed: SEED },
    );
  });

  // KNOWN RACE (a cluster, where a node receives a publish after another connection already sees
  // it in the log's head): a start that cannot replay from its base (first connect with the log
  // trimmed past the base, or a gap) is cut at a head read AFTER settled(); an event in that head
  // which reaches this node only after the plan is applied then arrives live at or below the
  // client's position, and the client drops it as a duplicate: lost, with no recovered:false.
  // settled() promises interest, not delivery of what was published before it. The in-memory
  // broker delivers synchronously, so a single node is not affected. Shrunk counterexample of
  // the property above; `it.fails` turns into a failure once the race is fixed, so the fix must
  // turn it into an ordinary test.
  it.fails('known race: an event published while a fallback start reads the head, delivered after the start, is dropped by the client', async () => {
    await run([{ kind: 'reconnect', who: 'c1', during: [[0, false], [1, false], [1, false], [0, false]] }], 3, 50);
  });

  const away = (n: number, during: (readonly [number, boolean])[] = []): Action[] => [
    { kind: 'reconnect', who: 'c1', during: [] },
    { kind: 'send-uid' },
    { kind: 'flush' },
    { kind: 'disconnect', who: 'c1' },
    { kind: 'expire', who: 'c1' },
    ...Array.from({ length: n }, () => ({ kind: 'send-uid' as const })),
    { kind: 'reconnect', who: 'c1', during },
  ];
  const events = (seen: readonly Seen[] | undefined): (number | 'gap')[] => (seen ?? []).map((s) => (s.kind === 'gap' ? 'gap' : s.n));

  it('a client away for 10 events with a log of 20 gets all of them, then the ones sent while it rejoins', async () => {
    const seen = await run(away(10, [[0, false], [1, true], [3, false]]), 20, 1_000);
    expect(events(seen.get('c1'))).toEqual(Array.from({ length: 14 }, (_, i) => i));
  });

  it('a client away for 10 events with a log of 3 is told recovered:false, then gets the log after the head', async () => {
    const seen = await run(away(10, [[0, false], [2, false]]), 3, 1_000);
    // The new start is the head read before the connection registered: 11 and 12, sent while the log was read, follow.
    expect(events(seen.get('c1'))).toEqual([0, 'gap', 11, 12]);
  });

  it('a held event a previous start already replayed is not sent again after a gap (found by the property: 0,0,1,…)', async () => {
    // c2's first start replays 0 (sent during its read, not yet flushed to the node); at its next
    // start 0 reaches it live in the queue, and the log (3 events) has a gap after its position.
    const actions: Action[] = [
      { kind: 'reconnect', who: 'c2', during: [[0, false]] },
      { kind: 'reconnect', who: 'c2', during: [[0, false], [0, false], [0, true], [0, false]] },
    ];
    const seen = await run(actions, 3, 50);
    expect(events(seen.get('c2'))).toEqual([0, 'gap', 1, 2, 3, 4]);
  });

  it('a client away longer than maxAgeMs is told recovered:false', async () => {
    const actions = away(2);
    actions.splice(-1, 0, { kind: 'advance', ms: 200 });
    const seen = await run(actions, 50, 100);
    expect(events(seen.get('c1'))).toEqual([0, 'gap']);
  });
});

describe('recovery planning (examples)', () => {
  const P = { epoch: 'E', u: 5, g: 2 };
  const e = (stream: 'u' | 'g', seq: number): LogEntry => ({ event: ['app/x', `${stream}${seq}`], stream, seq });

  it('merge: older log events first, then the queue, each once, minus what the client has', () => {
    const replay = [e('u', 6), e('g', 3), e('u', 7), e('u', 8)];
    const pending = [e('u', 5), e('u', 7), { event: ['app/req'] as ChskEvent, stream: 'u' as const, seq: 0 }, e('u', 8), e('u', 9)];
    expect(mergeReplay(P, replay, pending).map((x) => x.event[1] ?? x.event[0])).toEqual(['u6', 'g3', 'u7', 'app/req', 'u8', 'u9']);
  });

  it('a first connect starts just before the events already held for the connection', () => {
    expect(startBefore({ epoch: 'E', u: 10, g: 4 }, [e('u', 9), e('u', 10), e('u', 11)])).toEqual({ epoch: 'E', u: 8, g: 4 });
    expect(startBefore({ epoch: 'E', u: 10, g: 4 }, [e('u', 11), e('g', 3)])).toEqual({ epoch: 'E', u: 10, g: 2 });
    const plan = planStart({ kind: 'none' }, { complete: false, events: [], head: { epoch: 'E', u: 10, g: 4 } }, [e('u', 10)]);
    expect(plan).toEqual({ recovery: { position: { epoch: 'E', u: 9, g: 4 } }, entries: [e('u', 10)] });
  });

  it('a poll with a gap is answered with recovered:false at the head; without one, with the merged events', () => {
    expect(planPoll(P, { complete: false, events: [], head: { epoch: 'F', u: 1, g: 0 } }, [])).toEqual({ kind: 'gap', recovery: { position: { epoch: 'F', u: 1, g: 0 }, recovered: false } });
    // held entries below the head do not lower it (that start could be below the log's floor: a gap again)
    expect(planPoll(P, { complete: false, events: [], head: { epoch: 'E', u: 40, g: 2 } }, [e('u', 6)])).toEqual({ kind: 'gap', recovery: { position: { epoch: 'E', u: 40, g: 2 }, recovered: false } });
    expect(planPoll(P, { complete: true, events: [e('u', 6)], head: { epoch: 'E', u: 6, g: 2 } }, [e('u', 6)])).toEqual({ kind: 'events', entries: [e('u', 6)] });
  });

  it('a position of a replaced log starts at 0 in each replaced stream, at its own sequence in a kept one', () => {
    const from = { epoch: 'B1.U1', u: 7, g: 3 };
    expect(startInReplacedLog(from, { epoch: 'B1.U1', u: 9, g: 3 })).toBeUndefined(); // nothing replaced
    expect(startInReplacedLog(from, { epoch: 'B2.U2', u: 2, g: 1 })).toEqual({ epoch: 'B2.U2', u: 0, g: 0 }); // the store lost everything
    expect(startInReplacedLog(from, { epoch: 'B1.U2', u: 1, g: 5 })).toEqual({ epoch: 'B1.U2', u: 0, g: 3 }); // the uid's log was forgotten
    expect(startInReplacedLog(from, { epoch: 'B2.U1', u: 9, g: 1 })).toEqual({ epoch: 'B2.U1', u: 7, g: 0 }); // the broadcast log was
    expect(startInReplacedLog({ epoch: 'X', u: 7, g: 3 }, { epoch: 'B1.U1', u: 9, g: 3 })).toEqual({ epoch: 'B1.U1', u: 0, g: 0 }); // another shape
    // the in-memory log builds its epochs so: a log of another process shares no generation
    const epochs = [new MemoryLog(BOUNDS), new MemoryLog(BOUNDS)].map((l) => l.head('alice', 0).epoch);
    expect(epochs[0]).not.toBe(epochs[1]);
    expect(startInReplacedLog({ epoch: epochs[0] ?? '', u: 4, g: 2 }, { epoch: epochs[1] ?? '', u: 0, g: 0 })).toEqual({ epoch: epochs[1], u: 0, g: 0 });
  });

  it('a poll from a replaced log still held from its start is answered recovered:false at that start', () => {
    const start = { epoch: 'F', u: 0, g: 0 };
    expect(planPoll(P, { complete: false, events: [e('u', 1)], head: { epoch: 'F', u: 1, g: 0 }, start }, [])).toEqual({ kind: 'gap', recovery: { position: start, recovered: false } });
  });

  it('a batch of unlogged entries has no marker', () => {
    expect(positionedBatch('E', [{ event: ['app/req'], stream: 'u', seq: 0 }])).toEqual([['app/req']]);
    expect(positionedBatch('E', [e('u', 6)])).toEqual([['chsk/pos', ['E', 6]], ['app/x', 'u6']]);
  });

  it('the recovery option: defaults, false, and a clear error for nonsense', () => {
    expect(resolveRecoveryOption(undefined)).toEqual({ maxEvents: 1_000, maxAgeMs: 120_000 });
    expect(resolveRecoveryOption({ maxEvents: 10 })).toEqual({ maxEvents: 10, maxAgeMs: 120_000 });
    expect(resolveRecoveryOption(false)).toBeUndefined();
    expect(() => resolveRecoveryOption({ maxEvents: 0 })).toThrow(/recovery.maxEvents/);
    expect(() => resolveRecoveryOption({ maxAgeMs: 1.5 })).toThrow(/recovery.maxAgeMs/);
  });
});

describe('MemoryLog expiry (property against a model)', () => {
  type LogOp = { readonly dt: number; readonly uid: number; readonly kind: 'append' | 'head' | 'history' };
  const logOp: fc.Arbitrary<LogOp> = fc.record({
    // steps around the bounds below, so expiries land on, just before and just after calls
    dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }), fc.constantFrom(49, 50, 51, 99, 100, 101)),
    uid: fc.nat({ max: 11 }),
    kind: fc.constantFrom('append' as const, 'append' as const, 'head' as const, 'history' as const),
  });

  it("many interleaved uids: a stream's generation is forgotten exactly metaTtlMs after its last touch, its events replayed exactly until maxAgeMs after their append", () => {
    const bounds = { maxEvents: 4, maxAgeMs: 50, metaTtlMs: 100 };
    fc.assert(
      fc.property(fc.array(logOp, { maxLength: 120 }), (ops) => {
        const log = new MemoryLog(bounds);
        /** The model: per uid, the last touch, the epoch seen last, and its retained (seq, at). */
        const model = new Map<number, { touched: number; epoch: string | undefined; seq: number; events: { seq: number; at: number }[] }>();
        let now = 0;
        for (const op of ops) {
          now += op.dt;
          const uid = `u${op.uid}`;
          let m = model.get(op.uid);
          const forgotten = m !== undefined && now > m.touched + bounds.metaTtlMs;
          if (m === undefined || forgotten) model.set(op.uid, (m = { touched: now, epoch: undefined, seq: 0, events: [] }));
          m.touched = now;
          let epoch: string | undefined;
          if (op.kind === 'append') {
            const [logged] = log.append({ kind: 'uid', uid }, [['app/x', now]], now);
            m.events.push({ seq: ++m.seq, at: now });
            expect(logged?.seq).toBe(m.seq);
            epoch = logged?.epoch;
          } else if (op.kind === 'head') {
            const p = log.head(uid, now);
            expect(p.u).toBe(m.seq);
            epoch = p.epoch;
          } else {
            const page = log.history(uid, 'c', { epoch: m.epoch ?? '', u: 0, g: 0 }, 100, now);
            const kept = m.events.filter((e) => e.at >= now - bounds.maxAgeMs).slice(-bounds.maxEvents);
            if (m.epoch !== undefined) expect(page.events.map((e) => e.seq)).toEqual(kept.map((e) => e.seq));
            epoch = page.position.epoch;
          }
          // the same generation exactly while the model keeps the stream; a new one once forgotten
          if (m.epoch === undefined) expect([...model.values()].filter((x) => x !== m).map((x) => x.epoch)).not.toContain(epoch);
          else expect(epoch).toBe(m.epoch);
          m.epoch = epoch;
        }
      }),
      { numRuns: 300, seed: 10 },
    );
  });
});
