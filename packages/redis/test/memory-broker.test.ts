import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { inMemoryBrokerV2 } from '../src/memory-broker.js';
import { singleNodeConformance } from './conformance.js';
import { FakeNode, withLog } from './fake-node.js';

let n = 0;
singleNodeConformance('inMemoryBrokerV2', (recovery) =>
  Promise.resolve((() => {
    const broker = inMemoryBrokerV2(recovery === undefined ? {} : { recovery });
    return { broker, node: new FakeNode(`mem-${n++}`).attach(broker) };
  })()),
);

/** Moves a VirtualTimeScheduler's clock to `ms` (runs what is due on the way). */
const advanceTo = (s: VirtualTimeScheduler, ms: number): void => {
  s.schedule(() => undefined, ms - s.now());
  s.flush();
};

describe('inMemoryBrokerV2 specifics (virtual time)', () => {
  it('delivers synchronously, inside publish()', () => {
    const broker = inMemoryBrokerV2();
    const node = new FakeNode('sync').attach(broker);
    node.hold('u1');
    broker.publish({ kind: 'uid', uid: 'u1' }, [['test/ev', 1]], false);
    expect(node.deliveries).toHaveLength(1);
  });

  it('coalesces connectedUids$: one emission per scheduler run, however many changes; an emission kept never changes after it', () => {
    const scheduler = new VirtualTimeScheduler();
    const broker = inMemoryBrokerV2({ scheduler });
    const node = new FakeNode('coalesce').attach(broker);
    expect(node.uidEmissions).toBe(1); // the current value, at subscribe
    for (let i = 0; i < 1_000; i++) node.hold(`u${i}`);
    node.release('u0');
    expect(node.uidEmissions).toBe(1);
    scheduler.flush();
    expect(node.uidEmissions).toBe(2);
    expect(node.uids?.any.size).toBe(999);
    const seen = node.uids;
    node.hold('late');
    scheduler.flush();
    expect(node.uidEmissions).toBe(3);
    expect(node.uids).not.toBe(seen); // a fresh object per emission ...
    // ... of immutable snapshots (O(1) each: SnapshotSet, tested in @sente-rx/server): the kept one
    // still shows the uids of its moment.
    expect(node.uids?.any.has('late')).toBe(true);
    expect(seen?.any.has('late')).toBe(false);
    expect(seen?.any.size).toBe(999);
    expect([...(seen?.any ?? [])]).not.toContain('late');
    expect(node.uids?.any.size).toBe(1_000);
    expect(node.ports.filter(([, open]) => open)).toHaveLength(1_001);
  });

  it('history(): events older than maxAgeMs are gone (complete:false), a fresh position still resumes', async () => {
    const scheduler = new VirtualTimeScheduler();
    const broker = inMemoryBrokerV2({ scheduler, recovery: { maxAgeMs: 1_000 } });
    const start = await withLog(broker).head('u1');
    broker.publish({ kind: 'uid', uid: 'u1' }, [['test/ev', 'old']], false);
    advanceTo(scheduler, 600);
    broker.publish({ kind: 'uid', uid: 'u1' }, [['test/ev', 'new']], false);
    expect((await withLog(broker).history('u1', 'c', start, 10)).complete).toBe(true);
    advanceTo(scheduler, 1_200);
    const page = await withLog(broker).history('u1', 'c', start, 10);
    expect(page.complete).toBe(false);
    expect(page.events.map((e) => e.event[1])).toEqual(['new']);
    const fromOld = await withLog(broker).history('u1', 'c', { ...start, u: 1 }, 10);
    expect(fromOld.complete).toBe(true);
    advanceTo(scheduler, 2_000);
    const fromHead = await withLog(broker).history('u1', 'c', { ...start, u: 2 }, 10);
    expect(fromHead).toMatchObject({ events: [], complete: true });
  });

  it('forgets an idle stream after metaTtlMs (new epoch → complete:false), keeps a touched one', async () => {
    const scheduler = new VirtualTimeScheduler();
    const broker = inMemoryBrokerV2({ scheduler, recovery: { maxAgeMs: 1_000, metaTtlMs: 5_000 } });
    broker.publish({ kind: 'uid', uid: 'idle' }, [['test/ev', 1]], false);
    broker.publish({ kind: 'uid', uid: 'busy' }, [['test/ev', 1]], false);
    const idle = await withLog(broker).head('idle');
    const busy = await withLog(broker).head('busy');
    advanceTo(scheduler, 4_000);
    await withLog(broker).head('busy');
    advanceTo(scheduler, 6_000);
    const lost = await withLog(broker).history('idle', 'c', idle, 10);
    expect(lost.complete).toBe(false);
    expect(lost.position.epoch).not.toBe(idle.epoch);
    expect(lost.position.u).toBe(0);
    expect(await withLog(broker).history('busy', 'c', busy, 10)).toMatchObject({ complete: true, position: busy });
  });

  it('each broker instance has its own epoch (a restarted process cannot resume old positions)', async () => {
    const a = await withLog(inMemoryBrokerV2()).head('u1');
    const b = inMemoryBrokerV2();
    expect((await withLog(b).history('u1', 'c', a, 10)).complete).toBe(false);
  });

  it('rejects nonsense recovery options', () => {
    expect(() => inMemoryBrokerV2({ recovery: { maxEvents: 0 } })).toThrow(TypeError);
    expect(() => inMemoryBrokerV2({ recovery: { maxAgeMs: 10_000, metaTtlMs: 1_000 } })).toThrow(TypeError);
  });

  it('survives a throwing node: publish() never throws', () => {
    const broker = inMemoryBrokerV2();
    const node = new FakeNode('thrower');
    node.deliver = () => {
      throw new Error('app bug');
    };
    node.attach(broker);
    node.hold('u1');
    expect(() => broker.publish({ kind: 'uid', uid: 'u1' }, [['test/ev', 1]], false)).not.toThrow();
    expect(broker.stats().delivered).toBe(1);
  });
});
