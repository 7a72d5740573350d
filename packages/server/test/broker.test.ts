/**
 * The in-memory broker (seam v2) on its own, in virtual time: routing of targets, requests and
 * replies, and the presence coalescing rule (leading + trailing throttle over presenceWindowMs,
 * uidport edges right after the emission that includes them).
 */
import { describe, expect, it } from 'vitest';
import { inMemoryBroker, type BrokerMessage, type BrokerNode, type BrokerReply, type BrokerRequest, type ConnectedUids } from '@sente-rx/server';
import { ManualScheduler } from '@sente-rx/fixtures';

const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();

function recordingNode(log: string[] = []): BrokerNode & { readonly log: string[]; readonly delivered: BrokerMessage[]; readonly requests: BrokerRequest[]; readonly replies: BrokerReply[] } {
  const delivered: BrokerMessage[] = [];
  const requests: BrokerRequest[] = [];
  const replies: BrokerReply[] = [];
  return {
    nodeId: 'n1',
    log,
    delivered,
    requests,
    replies,
    deliver: (m) => delivered.push(m),
    request: (r) => requests.push(r),
    reply: (r) => replies.push(r),
    uidport: (uid, open) => log.push(`${open ? 'open' : 'close'}:${uid}`),
  };
}

describe('inMemoryBroker', () => {
  it('delivers every target to its one node, synchronously and in publish order', () => {
    const b = inMemoryBroker({ scheduler: new ManualScheduler() });
    const node = recordingNode();
    b.connect(node);
    b.publish({ kind: 'uid', uid: 'a' }, [['x/1']], false);
    b.publish({ kind: 'client', uid: 'a', clientId: 'c' }, [['x/2']], true);
    b.publish({ kind: 'all' }, [['x/3']], false);
    expect(node.delivered.map((m) => [m.target.kind, m.events[0]?.[0], m.flush])).toEqual([
      ['uid', 'x/1', false],
      ['client', 'x/2', true],
      ['all', 'x/3', false],
    ]);
    expect(() => b.connect(recordingNode())).toThrow(/one server/);
  });

  it('routes a request to the node holding the uid, replies to node `to`; a request for an unheld uid fails chsk/closed at once', () => {
    const b = inMemoryBroker({ scheduler: new ManualScheduler() });
    const node = recordingNode();
    b.connect(node);
    b.localPresence('a', { ws: true, ajax: false });
    const req: BrokerRequest = { id: '1', from: 'n1', uid: 'a', clientId: 'c', event: ['x/ask'], timeoutMs: 10 };
    b.request(req);
    expect(node.requests).toEqual([req]);
    b.request({ ...req, id: '2', uid: 'nobody' });
    expect(node.replies).toEqual([{ id: '2', to: 'n1', outcome: { ok: false, code: 'chsk/closed', message: 'the client is not connected' } }]);
    b.reply({ id: '1', to: 'n1', outcome: { ok: true, value: 5 } });
    b.reply({ id: '1', to: 'other-node', outcome: { ok: true, value: 6 } });
    expect(node.replies.slice(1)).toEqual([{ id: '1', to: 'n1', outcome: { ok: true, value: 5 } }]);
  });

  it('coalesces presence: the first change is emitted at once, the rest of the window once at its end; edges follow the emission', () => {
    const clock = new ManualScheduler();
    const b = inMemoryBroker({ scheduler: clock, presenceWindowMs: 50 });
    const log: string[] = [];
    b.connect(recordingNode(log));
    b.connectedUids$.subscribe((u: ConnectedUids) => log.push(`uids:${sorted(u.any).join(',')}`));
    expect(log).toEqual(['uids:']);
    b.localPresence('a', { ws: true, ajax: false });
    expect(log).toEqual(['uids:', 'uids:a', 'open:a']);
    for (let i = 0; i < 1_000; i++) b.localPresence(`u${i}`, { ws: true, ajax: false });
    b.localPresence('a', { ws: false, ajax: false });
    clock.advance(49);
    expect(log).toHaveLength(3); // nothing until the window ends
    clock.advance(1);
    expect(log).toHaveLength(3 + 1 + 1_001); // one emission for the 1001 changes, then their edges in order
    expect(log[3]).toMatch(/^uids:u0,u1,/);
    expect(log[3]?.includes('a,')).toBe(false);
    expect(log[4]).toBe('open:u0');
    expect(log.at(-1)).toBe('close:a');
    // A quiet window later, a change is emitted at once again.
    clock.advance(100);
    b.localPresence('b', { ws: false, ajax: true });
    expect(log.slice(-2)).toEqual([expect.stringMatching(/,b,|^uids:b,/) as unknown, 'open:b']);
  });

  it('snapshots are immutable copies: a later change does not alter a value already emitted', () => {
    const clock = new ManualScheduler();
    const b = inMemoryBroker({ scheduler: clock, presenceWindowMs: 0 });
    b.connect(recordingNode());
    const seen: ConnectedUids[] = [];
    b.connectedUids$.subscribe((u) => seen.push(u));
    b.localPresence('a', { ws: true, ajax: true });
    b.localPresence('a', { ws: false, ajax: true });
    expect(seen.map((u) => [sorted(u.ws), sorted(u.ajax), sorted(u.any)])).toEqual([
      [[], [], []],
      [['a'], ['a'], ['a']],
      [[], ['a'], ['a']],
    ]);
  });

  it('close() completes connectedUids$ and stops routing', async () => {
    const b = inMemoryBroker({ scheduler: new ManualScheduler() });
    const node = recordingNode();
    b.connect(node);
    let done = false;
    b.connectedUids$.subscribe({ complete: () => (done = true) });
    await b.close();
    b.publish({ kind: 'all' }, [['x/1']], false);
    expect(done).toBe(true);
    expect(node.delivered).toEqual([]);
    expect(() => inMemoryBroker({ presenceWindowMs: -1 })).toThrow(TypeError);
  });
});
