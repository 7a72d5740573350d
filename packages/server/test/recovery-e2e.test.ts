/**
 * Recovery end to end (issue 13), real clients and servers on loopback, over WebSocket and Ajax:
 * a client away past its grace period gets everything it missed, in order, once, then live events,
 * with `recovered: true`; more than the log holds gives `recovered: false` and no duplicate; a
 * batch that arrived but whose position the server never learnt is not sent twice; clients
 * without recovery get plain v1 frames; an Ajax client served by two nodes in turn (no sticky
 * sessions, a shared log) gets every event once, in order.
 */
import { describe, expect, it } from 'vitest';
import { BehaviorSubject } from 'rxjs';
import { type ChannelSocketClient, type ClientOptions } from '@sente-rx/client';
import { type ChskEvent, silentLogger } from '@sente-rx/core';
import { type Broker, type BrokerNode, type LogBounds, MemoryLog } from '@sente-rx/server';
import { nextEvent, pushedEvents, type TestServer, useFixtures, whenClosed, whenOpen, nextData, recordData } from '@sente-rx/fixtures';

const fx = useFixtures();
const TYPES = ['ws', 'ajax'] as const;

/** The data of the next `n` pushes with id `app/n`. */
const nextPushes = (c: ChannelSocketClient, n: number, ms = 10_000): Promise<unknown[]> => nextData(c, 'app/n', n, ms);

/** Every `app/n` push from now on. */
const record = (c: ChannelSocketClient): unknown[] => recordData(c, 'app/n');

const handshake = (c: ChannelSocketClient): Promise<unknown> => nextEvent(c, 'chsk/handshake').then((m) => m.data);

async function away(srv: TestServer, c: ChannelSocketClient): Promise<void> {
  const gone = srv.next('chsk/uidport-close');
  c.disconnect();
  await whenClosed(c);
  await gone; // past the grace period: the server forgot the connection and its queue
}

describe.each(TYPES)('recovery over %s', (type) => {
  const grace = { ws: 30, ajax: 30 };
  const opts = (uid: string): ClientOptions & { uid: string } => ({ uid, type, logger: silentLogger });

  it('a client away past its grace period gets the 500 events sent meanwhile, in order, once, then live ones; recovered: true', async () => {
    const srv = await fx.startServer({ reconnectGraceMs: grace, logger: silentLogger });
    const c = fx.client(srv.port, opts('alice'));
    await whenOpen(c);
    expect('recovered' in c.state).toBe(false); // a first connect
    const early = nextPushes(c, 3);
    for (let i = 0; i < 3; i++) srv.chsk.send('alice', ['app/n', i]);
    expect(await early).toEqual([0, 1, 2]);
    await away(srv, c);
    for (let i = 3; i < 503; i++) srv.chsk.send('alice', ['app/n', i]);
    const got = record(c);
    const hs = handshake(c);
    c.reconnect();
    expect(await hs).toEqual(['alice', null, false, true]);
    expect(c.state.recovered).toBe(true);
    const live = nextPushes(c, 501 - got.length);
    srv.chsk.send('alice', ['app/n', 503]);
    await live;
    expect(got).toEqual(Array.from({ length: 501 }, (_, i) => i + 3));
  });

  it('more missed events than the log holds: recovered: false, then live events, nothing duplicated', async () => {
    const srv = await fx.startServer({ reconnectGraceMs: grace, recovery: { maxEvents: 50 }, logger: silentLogger });
    const c = fx.client(srv.port, opts('bob'));
    await whenOpen(c);
    const early = nextPushes(c, 2);
    srv.chsk.send('bob', ['app/n', 'a']);
    srv.chsk.send('bob', ['app/n', 'b']);
    expect(await early).toEqual(['a', 'b']);
    await away(srv, c);
    for (let i = 0; i < 200; i++) srv.chsk.send('bob', ['app/n', i]);
    const got = record(c);
    const hs = handshake(c);
    c.reconnect();
    expect(await hs).toEqual(['bob', null, false, false]);
    expect(c.state.recovered).toBe(false);
    const live = nextPushes(c, 1);
    srv.chsk.send('bob', ['app/n', 'after']);
    await live;
    expect(got).toEqual(['after']);
  });

  it('a batch that arrived but whose position the server never learnt is not sent again', async () => {
    const srv = await fx.startServer({ logger: silentLogger });
    const c = fx.client(srv.port, opts('carol'));
    await whenOpen(c);
    const got = record(c);
    const first = nextPushes(c, 10);
    for (let i = 0; i < 10; i++) srv.chsk.send('carol', ['app/n', i], { flush: i === 9 });
    await first;
    // The connection breaks right after the batch arrived: the server cannot know it did.
    const hs = handshake(c);
    c.breakConnection();
    for (let i = 10; i < 20; i++) srv.chsk.send('carol', ['app/n', i]);
    expect(await hs).toEqual(['carol', null, false, true]);
    const live = nextPushes(c, 1);
    srv.chsk.send('carol', ['app/n', 20]);
    await live;
    expect(got).toEqual(Array.from({ length: 21 }, (_, i) => i));
  });
});

describe('recovery and clients without it', () => {
  it('a client that sends no pos gets plain frames: no recovery element, no chsk/pos entry', async () => {
    const srv = await fx.startServer({ logger: silentLogger });
    const raw = fx.rawWs(srv.port, { uid: 'dave' });
    const hs = await raw.next((m) => Array.isArray(m) && Array.isArray(m[0]) && m[0][0] === 'chsk/handshake');
    expect(hs).toEqual([['chsk/handshake', ['dave', null, null, true]], null]);
    srv.chsk.send('dave', ['app/n', 1], { flush: true });
    srv.chsk.send('dave', ['app/n', 2], { flush: true });
    await raw.next((m) => JSON.stringify(m).includes('"app/n",2'));
    expect(pushedEvents(raw)).toEqual([
      ['app/n', 1],
      ['app/n', 2],
    ]);
  });

  it('recovery: false sends no recovery element even to a client that asks', async () => {
    const srv = await fx.startServer({ recovery: false, logger: silentLogger });
    const c = fx.client(srv.port, { uid: 'erin', type: 'ws', logger: silentLogger });
    await whenOpen(c);
    const p = nextPushes(c, 1);
    srv.chsk.send('erin', ['app/n', 1]);
    expect(await p).toEqual([1]);
    const hs = handshake(c);
    c.reconnect();
    expect(await hs).toEqual(['erin', null, false]);
    expect('recovered' in c.state).toBe(false);
  });
});

/**
 * Two nodes over one shared in-memory log, every publish delivered to both: the smallest cluster
 * that shows a poll answered by a node that did not answer the previous one.
 */
function sharedLog(n: number, bounds: LogBounds = { maxEvents: 1_000, maxAgeMs: 120_000, metaTtlMs: 86_400_000 }, now: () => number = Date.now): Broker[] {
  const log = new MemoryLog(bounds);
  const nodes: BrokerNode[] = [];
  const uids$ = new BehaviorSubject({ ws: new Set<string>(), ajax: new Set<string>(), any: new Set<string>() });
  return Array.from({ length: n }, () => ({
    connect: (node: BrokerNode) => void nodes.push(node),
    publish(target, events: readonly ChskEvent[], flush) {
      const logged = log.append(target, events, now());
      for (const node of nodes) node.deliver({ target, events, flush, logged });
    },
    request: () => undefined,
    reply: () => undefined,
    localPresence: () => undefined,
    connectedUids$: uids$.asObservable(),
    history: (uid, clientId, from, limit) => Promise.resolve(log.history(uid, clientId, from, limit, now())),
    head: (uid) => Promise.resolve(log.head(uid, now())),
    settled: () => Promise.resolve(),
    close: () => Promise.resolve(),
  }));
}

describe('Ajax without sticky sessions', () => {
  it('polls alternating between two nodes deliver 600 events once, in order', async () => {
    const [b1, b2] = sharedLog(2);
    if (b1 === undefined || b2 === undefined) throw new Error('two brokers');
    const n1 = await fx.startServer({ broker: b1, logger: silentLogger });
    const n2 = await fx.startServer({ broker: b2, logger: silentLogger });
    const ports = [n1.port, n2.port];
    const served = [0, 0];
    let turn = 0;
    const roundRobin: typeof fetch = (input, init) => {
      const i = turn++ % 2;
      served[i] = (served[i] ?? 0) + 1;
      return fetch(String(input).replace(`:${n1.port}/`, `:${ports[i]}/`), init);
    };
    const c = fx.client(n1.port, { uid: 'frank', type: 'ajax', fetch: roundRobin, logger: silentLogger });
    await whenOpen(c);
    const got = record(c);
    // 20 rounds of 30 pushes from both nodes, each awaited, so the client polls at least 20 times.
    for (let round = 0; round < 20; round++) {
      const arrived = nextPushes(c, 30);
      for (let i = round * 30; i < round * 30 + 30; i++) (i % 2 === 0 ? n1 : n2).chsk.send('frank', ['app/n', i], { flush: i % 30 === 29 });
      await arrived;
    }
    expect(got).toEqual(Array.from({ length: 600 }, (_, i) => i));
    expect(served[0]).toBeGreaterThanOrEqual(10);
    expect(served[1]).toBeGreaterThanOrEqual(10);
  });
});

describe('a log replaced under a live connection', () => {
  it('the client is made to reconnect and told recovered: false, then gets the new log from its start (the event that revealed it too), once', async () => {
    // The log's own clock, moved by hand: the uid log's metadata is forgotten after 1 s idle.
    let t = 0;
    const [b] = sharedLog(1, { maxEvents: 100, maxAgeMs: 500, metaTtlMs: 1_000 }, () => t);
    if (b === undefined) throw new Error('a broker');
    const srv = await fx.startServer({ broker: b, logger: silentLogger });
    const c = fx.client(srv.port, { uid: 'gina', type: 'ws', logger: silentLogger });
    await whenOpen(c);
    const got = record(c);
    const first = nextPushes(c, 3);
    for (let i = 0; i < 3; i++) srv.chsk.send('gina', ['app/n', i], { flush: true });
    await first;
    t += 5_000; // the uid's log is forgotten: the next push starts a new one at seq 1
    const hs = handshake(c);
    srv.chsk.send('gina', ['app/n', 'x'], { flush: true });
    expect(await hs).toEqual(['gina', null, false, false]);
    const live = nextPushes(c, 1);
    srv.chsk.send('gina', ['app/n', 'y'], { flush: true });
    await live;
    // The event that revealed the new log is in it: replayed once after the handshake, then the live one.
    expect(got).toEqual([0, 1, 2, 'x', 'y']);
    expect(c.state.recovered).toBe(false);
  });
});
