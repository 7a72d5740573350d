/** The single-node half of the broker contract, run against every broker. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, LoggedEvent, RecoveryOptions } from '../src/contract.js';
import type { FakeNode} from './fake-node.js';
import { until, withLog } from './fake-node.js';

export interface Made {
  readonly broker: Broker;
  readonly node: FakeNode;
}
export type MakeBroker = (recovery?: RecoveryOptions | false) => Promise<Made>;

const ev = (i: number | string): readonly [string, number | string] => ['test/ev', i];

/** A logged event without its (optional) epoch stamp. */
const bare = ({ epoch: _epoch, ...rest }: LoggedEvent): Omit<LoggedEvent, 'epoch'> => rest;

/**
 * A broker that stamps events with their log (`LoggedEvent.epoch`) stamps the log they are in now:
 * a uid event with the uid log's epoch, a broadcast with the part of every epoch before its first dot.
 */
async function epochsMatch(broker: Broker, uid: string, logged: readonly LoggedEvent[]): Promise<void> {
  const { epoch } = await withLog(broker).head(uid);
  for (const e of logged) {
    if (e.epoch === undefined) continue;
    if (e.stream === 'u') expect(e.epoch).toBe(epoch);
    else expect(epoch.startsWith(`${e.epoch}.`) && !e.epoch.includes('.')).toBe(true);
  }
}

export function singleNodeConformance(name: string, make: MakeBroker): void {
  describe(`${name}: single-node contract`, () => {
    const made: Made[] = [];
    const setup = async (recovery?: RecoveryOptions | false): Promise<Made> => {
      const m = await make(recovery);
      made.push(m);
      return m;
    };
    afterEach(async () => {
      for (const m of made.splice(0)) {
        m.node.detach();
        await m.broker.close();
      }
    });

    it('delivers a uid send once, in publish order, with positions; none for a uid it does not hold', async () => {
      const { broker, node } = await setup();
      node.hold('u1');
      await broker.settled();
      for (let i = 0; i < 30; i++) broker.publish({ kind: 'uid', uid: 'u1' }, [ev(i)], false);
      broker.publish({ kind: 'uid', uid: 'u2' }, [ev('not-held')], false);
      broker.publish({ kind: 'uid', uid: 'u1' }, [ev('last'), ev('last+1')], true);
      await until(() => node.eventsFor('u1').length === 32, '32 events for u1');
      await broker.settled();
      const got = node.eventsFor('u1');
      expect(got.map((e) => e.event[1])).toEqual([...Array.from({ length: 30 }, (_, i) => i), 'last', 'last+1']);
      expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
      expect(got.every((e) => e.stream === 'u' && e.clientId === undefined)).toBe(true);
      expect(node.deliveries.at(-1)?.flush).toBe(true);
      expect(node.eventsFor('u2')).toEqual([]);
      expect(broker.stats()).toMatchObject({ published: 32, delivered: 31, dropped: 0, logged: 33 });
    });

    it('routes a client-targeted send to the holding node, marked with its clientId', async () => {
      const { broker, node } = await setup();
      node.hold('u1', 'c1');
      await broker.settled();
      broker.publish({ kind: 'client', uid: 'u1', clientId: 'c1' }, [ev('only-c1')], false);
      await until(() => node.deliveries.length === 1, 'the client send');
      expect(node.deliveries[0]?.target).toEqual({ kind: 'client', uid: 'u1', clientId: 'c1' });
      expect(node.deliveries[0]?.logged.map(bare)).toEqual([{ event: ev('only-c1'), stream: 'u', seq: 1, clientId: 'c1' }]);
      await epochsMatch(broker, 'u1', node.deliveries[0]?.logged ?? []);
      expect(node.deliveries[0]?.events).toEqual([ev('only-c1')]);
    });

    it('delivers a broadcast to a node holding nobody, on the broadcast stream', async () => {
      const { broker, node } = await setup();
      await broker.settled();
      broker.publish({ kind: 'all' }, [ev('b1')], false);
      broker.publish({ kind: 'all' }, [ev('b2')], false);
      await until(() => node.deliveries.length === 2, 'two broadcasts');
      await epochsMatch(broker, 'u1', node.deliveries.flatMap((m) => m.logged));
      expect(node.deliveries.map((m) => m.logged[0]).map((e) => e && bare(e))).toEqual([
        { event: ev('b1'), stream: 'g', seq: 1 },
        { event: ev('b2'), stream: 'g', seq: 2 },
      ]);
    });

    it('routes a request to the node holding the client and its reply back; no holder answers chsk/closed', async () => {
      const { broker, node } = await setup();
      node.hold('u1', 'c1');
      await broker.settled();
      broker.request({ id: 'r1', from: node.nodeId, uid: 'u1', clientId: 'c1', event: ev('ask'), timeoutMs: 5_000 });
      broker.request({ id: 'r2', from: node.nodeId, uid: 'nobody', clientId: 'c9', event: ev('ask'), timeoutMs: 5_000 });
      await until(() => node.replies.length === 2, 'two replies');
      const byId = new Map(node.replies.map((r) => [r.id, r]));
      expect(byId.get('r1')?.outcome).toEqual({ ok: true, value: { answeredBy: node.nodeId, event: ev('ask') } });
      expect(byId.get('r2')?.outcome).toMatchObject({ ok: false, code: 'chsk/closed' });
      expect(node.requests.map((r) => r.id)).toEqual(['r1']);
    });

    it('fires uidport on presence edges only, and connectedUids$ follows ws/ajax/any', async () => {
      const { broker, node } = await setup();
      node.hold('u1', 'c1', { ws: true, ajax: false });
      node.hold('u1', 'c2', { ws: true, ajax: true });
      node.hold('u2', 'c3', { ws: false, ajax: true });
      await broker.settled();
      // Every edge published by then (settled), but each reaches the mirror on its own: wait for all three.
      await until(() => node.uids?.any.size === 2 && node.uids.ajax.size === 2 && node.uids.ws.size === 1, 'two connected uids, both on ajax, u1 on ws');
      expect(node.ports).toEqual([
        ['u1', true],
        ['u2', true],
      ]);
      expect([...(node.uids?.ws ?? [])]).toEqual(['u1']);
      expect([...(node.uids?.ajax ?? [])].sort()).toEqual(['u1', 'u2']);
      node.release('u1');
      await broker.settled();
      await until(() => node.uids?.any.has('u1') === false, 'u1 gone');
      expect(node.ports).toEqual([
        ['u1', true],
        ['u2', true],
        ['u1', false],
      ]);
      expect(node.uids?.ws.size).toBe(0);
    });

    it('history(): the events after a position for this client, merged with broadcasts, paged by limit', async () => {
      const { broker, node } = await setup();
      node.hold('u1', 'c1');
      await broker.settled();
      const start = await withLog(broker).head('u1');
      broker.publish({ kind: 'uid', uid: 'u1' }, [ev(1), ev(2)], false);
      broker.publish({ kind: 'all' }, [ev('g1')], false);
      broker.publish({ kind: 'client', uid: 'u1', clientId: 'c2' }, [ev('for-c2')], false);
      broker.publish({ kind: 'client', uid: 'u1', clientId: 'c1' }, [ev('for-c1')], false);
      broker.publish({ kind: 'all' }, [ev('g2')], false);
      await broker.settled();
      const head = await withLog(broker).head('u1');
      expect(head).toEqual({ epoch: start.epoch, u: start.u + 4, g: start.g + 2 });

      const all = await withLog(broker).history('u1', 'c1', start, 100);
      expect(all.complete).toBe(true);
      expect(all.events.map((e) => e.event[1])).toEqual([1, 2, 'g1', 'for-c1', 'g2']);
      expect(all.position).toEqual(head);

      const pages: unknown[] = [];
      let at = start;
      for (let i = 0; i < 10; i++) {
        const p = await withLog(broker).history('u1', 'c1', at, 2);
        expect(p.complete).toBe(true);
        pages.push(...p.events.map((e) => e.event[1]));
        at = p.position;
        if (p.events.length < 2) break;
      }
      expect(pages).toEqual([1, 2, 'g1', 'for-c1', 'g2']);
      expect(at).toEqual(head);

      expect(await withLog(broker).history('u1', 'c1', start, 0)).toEqual({ events: [], complete: true, position: start });
      const rest = await withLog(broker).history('u1', 'c1', { ...start, u: start.u + 2, g: start.g + 1 }, 100);
      expect(rest.events.map((e) => e.event[1])).toEqual(['for-c1', 'g2']);
      expect(rest.complete).toBe(true);
    });

    it('history(): trimmed past the position → complete:false with what is left; another epoch → complete:false', async () => {
      const { broker } = await setup({ maxEvents: 3 });
      const start = await withLog(broker).head('u1');
      for (let i = 1; i <= 5; i++) broker.publish({ kind: 'uid', uid: 'u1' }, [ev(i)], false);
      await broker.settled();
      const gap = await withLog(broker).history('u1', 'c1', start, 100);
      expect(gap.complete).toBe(false);
      expect(gap.events.map((e) => e.seq)).toEqual([3, 4, 5]);
      const ok = await withLog(broker).history('u1', 'c1', { ...start, u: 2 }, 100);
      expect(ok.complete).toBe(true);
      expect(ok.events.map((e) => e.seq)).toEqual([3, 4, 5]);
      const other = await withLog(broker).history('u1', 'c1', { ...start, epoch: 'some-other-epoch' }, 100);
      expect(other).toEqual({ events: [], complete: false, position: await withLog(broker).head('u1') });
      const future = await withLog(broker).history('u1', 'c1', { ...start, u: 99 }, 100);
      expect(future.complete).toBe(false);
      // A position straight off the wire may be anything: an answer, never an error.
      for (const junk of [null, 'x', { epoch: 5, u: 0, g: 0 }, { ...start, u: -1 }, { ...start, g: Number.NaN }, { ...start, u: 1.5 }]) {
        const page = await withLog(broker).history('u1', 'c1', junk as unknown as typeof start, 100);
        expect(page).toEqual({ events: [], complete: false, position: await withLog(broker).head('u1') });
      }
    });

    it('recovery off: seq 0, and no history() / head() (so a server given the broker runs without recovery)', async () => {
      const { broker, node } = await setup(false);
      node.hold('u1');
      await broker.settled();
      broker.publish({ kind: 'uid', uid: 'u1' }, [ev(1)], false);
      await until(() => node.deliveries.length === 1, 'one delivery');
      expect(node.deliveries[0]?.logged[0]?.seq).toBe(0);
      expect(broker.history).toBeUndefined();
      expect(broker.head).toBeUndefined();
      expect(broker.stats().logged).toBe(0);
    });
  });
}
