// The registry keeps the origin of uids that left this node (for a late `chsk/uidport-close`
// from a cluster broker) in a bounded map, evicted oldest first in batches.
import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Broker } from '../src/broker.js';
import type { SharedContext } from '../src/channel.js';
import { Conn, Registry } from '../src/registry.js';
import type { RequestInfo } from '../src/types.js';

const REQUEST = {} as RequestInfo;

function registry(): { reg: Registry; scheduler: VirtualTimeScheduler; presence: string[] } {
  const scheduler = new VirtualTimeScheduler();
  const presence: string[] = [];
  // A broker that never reports a uid gone: every uid that leaves stays in `left`.
  const broker = { localPresence: (uid: string, on: { ws: boolean; ajax: boolean }) => presence.push(`${uid}:${on.ws || on.ajax}`) } as unknown as Broker;
  const ctx = {
    options: { reconnectGraceMs: { ws: 10, ajax: 10 } },
    scheduler,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    clientGone() {},
    closing: false,
  } as unknown as SharedContext;
  return { reg: new Registry(ctx, broker), scheduler, presence };
}

describe('Registry: origins of uids that left', () => {
  it('keeps the newest 10,000 and at most 11,000 after 25,000 uids left', () => {
    const { reg, scheduler, presence } = registry();
    const N = 25_000;
    const conns: Conn[] = [];
    for (let i = 0; i < N; i++) {
      const conn = new Conn('ws', `u${i}`, 'c', REQUEST);
      conns.push(conn);
      reg.register(conn);
      reg.updatePresence(conn.uid, conn);
      reg.startGrace(conn);
      // Each uid's grace ends before the next one connects: leaves come one at a time.
      scheduler.flush();
    }
    expect(presence.filter((p) => p.endsWith(':false'))).toHaveLength(N);
    const kept = conns.filter((c) => reg.originOf(c.uid) === c);
    expect(kept.length).toBeGreaterThanOrEqual(10_000);
    expect(kept.length).toBeLessThanOrEqual(11_000);
    // The ones kept are the newest: oldest first out.
    expect(kept[0]?.uid).toBe(`u${N - kept.length}`);
    expect(reg.originOf(`u${N - 1}`)).toBe(conns[N - 1]);
    expect(reg.originOf('u0')).toBeUndefined();
  });
});
