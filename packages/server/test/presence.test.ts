/**
 * Presence (Sente §4.7, §4.8): connectedUids$, chsk/uidport-open/-close and the reconnect grace
 * period; anonymous clients under NIL_UID; send's argument checks and ['chsk/close'].
 * Absence ("no uidport-close for alice") is shown with a sentinel: a later event that, by timer
 * order, can only arrive after the one that must not.
 */
import { describe, expect, it } from 'vitest';
import { ALL_USERS_WITHOUT_UID, inMemoryBroker, NIL_UID, type BrokerNode, type ConnectedUids, type ServerEventMsg } from '@sente-rx/server';
import { chskPath, freshClientId, httpRequest, ManualScheduler, pushedEvents, type RawWs, rawWs, recordingLogger, type TestServer, useFixtures } from '@sente-rx/fixtures';
import { filter, firstValueFrom, take, toArray } from 'rxjs';

const GRACE = 150;

const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();
const snap = (u: ConnectedUids): { ws: string[]; ajax: string[]; any: string[] } => ({ ws: sorted(u.ws), ajax: sorted(u.ajax), any: sorted(u.any) });

/** `id:uid` of every uidport event so far. */
function uidportLog(srv: TestServer): string[] {
  const out: string[] = [];
  srv.received.subscribe((m) => m.id.startsWith('chsk/uidport') && out.push(`${m.id.slice('chsk/uidport-'.length)}:${String(m.data)}`)).unsubscribe();
  return out;
}

describe('presence', () => {
  const fx = useFixtures();
  let srv: TestServer;
  const connect = async (uid: string | undefined, clientId?: string): Promise<RawWs> => {
    const c = fx.rawWs(srv.port, { ...(uid === undefined ? {} : { uid }), ...(clientId === undefined ? {} : { clientId }) });
    await c.handshake();
    return c;
  };
  /** A sentinel uid that connects and disconnects now; resolves when its uidport-close arrives (one grace period later). */
  const sentinelGraceElapsed = async (name: string): Promise<void> => {
    const s = await connect(name);
    await s.close();
    await srv.next('chsk/uidport-close', (m) => m.data === name);
  };

  it('connectedUids$ starts empty, and .value agrees with getValue() and with the latest emission', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE } });
    expect(snap(srv.chsk.connectedUids$.getValue())).toEqual({ ws: [], ajax: [], any: [] });
    let latest: ConnectedUids | undefined;
    const sub = srv.chsk.connectedUids$.subscribe((u) => (latest = u));
    await connect('alice');
    expect(snap(latest!)).toEqual({ ws: ['alice'], ajax: [], any: ['alice'] });
    expect(snap(srv.chsk.connectedUids$.getValue())).toEqual({ ws: ['alice'], ajax: [], any: ['alice'] });
    // the BehaviorSubject-like `.value` (DESIGN.md §3) must be live, not a snapshot taken at construction
    expect(snap(srv.chsk.connectedUids$.value)).toEqual({ ws: ['alice'], ajax: [], any: ['alice'] });
    sub.unsubscribe();
  });

  it('uidport-open fires when a uid first appears; a second tab of the same uid adds none', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE } });
    const emissions: string[][] = [];
    const sub = srv.chsk.connectedUids$.subscribe((u) => emissions.push(sorted(u.any)));
    await connect('alice');
    const open1 = await srv.next('chsk/uidport-open');
    expect(open1.event).toEqual(['chsk/uidport-open', 'alice']);
    expect(open1.uid).toBe('alice');
    await connect('alice'); // second tab
    await connect('bob'); // the sentinel: its uidport-open comes after any the second tab could cause
    await srv.next('chsk/uidport-open', (m) => m.data === 'bob');
    expect(uidportLog(srv)).toEqual(['open:alice', 'open:bob']);
    expect(emissions).toEqual([[], ['alice'], ['alice', 'bob']]);
    expect(snap(srv.chsk.connectedUids$.getValue())).toEqual({ ws: ['alice', 'bob'], ajax: [], any: ['alice', 'bob'] });
    sub.unsubscribe();
  });

  it('uidport-close comes only after the grace period, and connectedUids$ keeps the uid until then', async () => {
    // The server's clock moves only when the test advances it: the grace period is exact, and no
    // slow delivery can make it look shorter or longer.
    const clock = new ManualScheduler();
    const logger = recordingLogger();
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE }, scheduler: clock, logger });
    const times: { at: number; any: string[] }[] = [];
    const sub = srv.chsk.connectedUids$.subscribe((u) => times.push({ at: clock.now(), any: sorted(u.any) }));
    const a = await connect('alice');
    await a.close();
    // the server saw the close (it logs it, then starts the grace period at once)
    await logger.waitFor((e) => e.msg === 'sente-rx: WebSocket closed' && e.data?.['uid'] === 'alice');
    const t0 = clock.now();
    clock.advance(GRACE - 1);
    expect(srv.chsk.connectedUids$.getValue().any.has('alice')).toBe(true);
    clock.advance(1);
    const closeMsg = await srv.next('chsk/uidport-close');
    expect(closeMsg.event).toEqual(['chsk/uidport-close', 'alice']);
    expect(closeMsg.uid).toBe('alice');
    // alice was in `any` until the emission that removed her, and that came after the grace period
    expect(times.map((t) => t.any)).toEqual([[], ['alice'], []]);
    expect(times[2]!.at - t0).toBe(GRACE);
    expect(snap(srv.chsk.connectedUids$.getValue())).toEqual({ ws: [], ajax: [], any: [] });
    sub.unsubscribe();
  });

  it('no uidport-close while another tab of the uid is still connected', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE } });
    const tab1 = await connect('alice');
    await connect('alice');
    await tab1.close();
    await sentinelGraceElapsed('sentinel'); // tab1's grace timer started first, so it has fired
    expect(uidportLog(srv)).toEqual(['open:alice', 'open:sentinel', 'close:sentinel']);
    expect(sorted(srv.chsk.connectedUids$.getValue().any)).toEqual(['alice']);
  });

  it('no uidport-close (and no new uidport-open) when the client reconnects within the grace period; kept events arrive', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE }, sendBufMs: { ws: 0 } });
    const clientId = freshClientId('alice');
    const first = await connect('alice', clientId);
    expect(await first.handshake()).toEqual(['alice', null, true]);
    await first.close();
    // sent while alice has no socket: kept for her
    srv.chsk.send('alice', ['test/while-away', 1]);
    const again = await connect('alice', clientId);
    // the wire's firstHandshake is false: the server still had an entry for this client id
    expect(await again.handshake()).toEqual(['alice', null, false]);
    expect(await again.next((m) => Array.isArray(m) && Array.isArray(m[0]) && m[0][0] !== 'chsk/handshake')).toEqual([[['test/while-away', 1]], null]);
    await sentinelGraceElapsed('sentinel');
    expect(uidportLog(srv)).toEqual(['open:alice', 'open:sentinel', 'close:sentinel']);
    expect(sorted(srv.chsk.connectedUids$.getValue().ws)).toEqual(['alice']);
  });

  it('a new tab (another client id) within the grace period also keeps the uid: no close/open pair', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE } });
    const a = await connect('alice');
    await a.close();
    const b = await connect('alice');
    expect((await b.handshake())[2]).toBe(true); // a new client id: a first handshake
    await sentinelGraceElapsed('sentinel');
    expect(uidportLog(srv)).toEqual(['open:alice', 'open:sentinel', 'close:sentinel']);
  });

  it('a second socket with the same client id replaces the first (closed with 1000), with no presence change', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE }, sendBufMs: { ws: 0 } });
    const clientId = freshClientId('alice');
    const older = await connect('alice', clientId);
    const newer = await connect('alice', clientId);
    expect(await older.closed).toEqual({ code: 1000, reason: 'replaced by a newer connection' });
    expect((await newer.handshake())[2]).toBe(false);
    srv.chsk.send('alice', ['test/to-newer', 1]);
    await newer.next((m) => Array.isArray(m) && Array.isArray(m[0]) && m[0][0] !== 'chsk/handshake');
    expect(pushedEvents(newer)).toEqual([['test/to-newer', 1]]);
    await sentinelGraceElapsed('sentinel'); // the older socket's close started no grace period that could remove alice
    expect(uidportLog(srv)).toEqual(['open:alice', 'open:sentinel', 'close:sentinel']);
    expect(sorted(srv.chsk.connectedUids$.getValue().ws)).toEqual(['alice']);
  });

  it('a client back after the grace period is new again: close, then open', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE } });
    const clientId = freshClientId('alice');
    const a = await connect('alice', clientId);
    await a.close();
    await srv.next('chsk/uidport-close');
    const b = await connect('alice', clientId);
    expect(await b.handshake()).toEqual(['alice', null, true]);
    // Presence is coalesced (inMemoryBroker's window): the open comes at most one window after the handshake.
    await firstValueFrom(srv.received.pipe(filter((m) => m.id === 'chsk/uidport-open'), take(2), toArray()));
    expect(uidportLog(srv)).toEqual(['open:alice', 'close:alice', 'open:alice']);
  });

  it('anonymous clients share NIL_UID; send(ALL_USERS_WITHOUT_UID, ev) reaches them and not named users', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE }, sendBufMs: { ws: 0 } });
    const anon1 = await connect(undefined);
    const anon2 = await connect(undefined);
    const alice = await connect('alice');
    expect((await anon1.handshake())[0]).toBe(NIL_UID);
    expect((await anon2.handshake())[0]).toBe(NIL_UID);
    expect(NIL_UID).toBe('sente/nil-uid');
    // uidport edges fire right after the coalesced connectedUids$ emission that includes them.
    await srv.next('chsk/uidport-open', (m) => m.data === 'alice');
    expect(snap(srv.chsk.connectedUids$.getValue()).any).toEqual(['alice', NIL_UID].sort());
    expect(uidportLog(srv)).toEqual([`open:${NIL_UID}`, 'open:alice']);

    srv.chsk.send(ALL_USERS_WITHOUT_UID, ['test/anon', 1]);
    srv.chsk.send('alice', ['test/named', 2]); // the sentinel for alice
    const isBatch = (m: unknown): boolean => Array.isArray(m) && m[1] === null && Array.isArray(m[0]) && m[0][0] !== 'chsk/handshake';
    await anon1.next(isBatch);
    await anon2.next(isBatch);
    await alice.next(isBatch);
    expect(pushedEvents(anon1)).toEqual([['test/anon', 1]]);
    expect(pushedEvents(anon2)).toEqual([['test/anon', 1]]);
    expect(pushedEvents(alice)).toEqual([['test/named', 2]]);

    // An event from an anonymous client carries NIL_UID.
    anon1.sendJson([['test/hello'], null]);
    const msg = await srv.next('test/hello');
    expect(msg.uid).toBe(NIL_UID);
    expect(msg.clientId).toBe(anon1.clientId);
  });

  it("a userId that returns '' or null counts as anonymous", async () => {
    srv = await fx.startServer({ userId: (req) => ((req.url ?? '').includes('kind=empty') ? '' : null) });
    const a = fx.rawWs(srv.port, { query: { kind: 'empty' } });
    const b = fx.rawWs(srv.port, { query: { kind: 'null' } });
    expect((await a.handshake())[0]).toBe(NIL_UID);
    expect((await b.handshake())[0]).toBe(NIL_UID);
  });

  it('Ajax: a handshake alone is not presence; the first poll is (uidport-open), and the uid leaves one grace period after the poll ends', async () => {
    // Manual time: the grace period after the handshake cannot expire before the first poll
    // arrives, however slow the machine (it did at 150 ms on a loaded one).
    const clock = new ManualScheduler();
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE, ajax: GRACE }, scheduler: clock });
    const clientId = freshClientId('ajax');
    const path = chskPath({ 'client-id': clientId, uid: 'carol' });
    const hs = await httpRequest(srv.port, { path: `${path}&handshake%3F=1` });
    expect(JSON.parse(hs.body)).toEqual([['chsk/handshake', ['carol', null, null, true]], null]);
    expect(snap(srv.chsk.connectedUids$.getValue()).any).toEqual([]);

    const ac = new AbortController();
    const poll = httpRequest(srv.port, { path, signal: ac.signal });
    poll.catch(() => undefined);
    const opened = await srv.next('chsk/uidport-open');
    expect(opened.event).toEqual(['chsk/uidport-open', 'carol']);
    expect(snap(srv.chsk.connectedUids$.getValue())).toEqual({ ws: [], ajax: ['carol'], any: ['carol'] });

    const ended = firstValueFrom(srv.ajaxEnded.pipe(filter((url) => url === path)));
    ac.abort(); // the poll goes away without an answer
    await ended; // the server has seen it go: the grace period runs from now
    clock.advance(GRACE - 1);
    expect(snap(srv.chsk.connectedUids$.getValue()).any).toEqual(['carol']);
    clock.advance(1);
    const closed = await srv.next('chsk/uidport-close');
    expect(closed.event).toEqual(['chsk/uidport-close', 'carol']);
    expect(snap(srv.chsk.connectedUids$.getValue())).toEqual({ ws: [], ajax: [], any: [] });
  });

  it('a uid on both transports is in ws, ajax and any', async () => {
    // a long Ajax grace: a slow first poll must not find the handshake's connection expired
    srv = await fx.startServer({ reconnectGraceMs: { ws: GRACE, ajax: 10_000 } });
    await connect('dave');
    const clientId = freshClientId('ajax');
    const path = chskPath({ 'client-id': clientId, uid: 'dave' });
    await httpRequest(srv.port, { path: `${path}&handshake%3F=1` });
    const ac = new AbortController();
    httpRequest(srv.port, { path, signal: ac.signal }).catch(() => undefined);
    await new Promise<void>((resolve) => {
      const sub = srv.chsk.connectedUids$.subscribe((u) => {
        if (u.ajax.has('dave')) {
          resolve();
          queueMicrotask(() => sub.unsubscribe());
        }
      });
    });
    expect(snap(srv.chsk.connectedUids$.getValue())).toEqual({ ws: ['dave'], ajax: ['dave'], any: ['dave'] });
    expect(uidportLog(srv)).toEqual(['open:dave']); // switching/adding a transport is no new open
    ac.abort();
  });
});

describe('send(uid, event): argument checks', () => {
  let srv: TestServer;
  const fx = useFixtures();

  it('throws TypeError for a missing uid', async () => {
    srv = await fx.startServer();
    const send = srv.chsk.send as (uid: unknown, ev: unknown) => void;
    expect(() => send(null, ['test/x', 1])).toThrow(TypeError);
    expect(() => send(undefined, ['test/x', 1])).toThrow(TypeError);
    expect(() => send(null, ['test/x', 1])).toThrow(/ALL_USERS_WITHOUT_UID/);
  });

  it('throws TypeError for a reserved chsk/ id (other than chsk/close) and for an invalid event', async () => {
    srv = await fx.startServer();
    const send = srv.chsk.send as (uid: unknown, ev: unknown) => void;
    expect(() => send('alice', ['chsk/handshake', ['x', null, true]])).toThrow(TypeError);
    expect(() => send('alice', ['chsk/ws-ping'])).toThrow(/reserved/);
    expect(() => send('alice', ['chsk/recv', 1])).toThrow(TypeError);
    expect(() => send('alice', ['noslash', 1])).toThrow(TypeError);
    expect(() => send('alice', 'test/x')).toThrow(TypeError);
    expect(() => send('alice', ['test/x', 1, 2])).toThrow(TypeError);
    expect(() => send('alice', [])).toThrow(TypeError);
    expect(() => send('alice', ['chsk/close'])).not.toThrow();
  });
});

describe("send(uid, ['chsk/close'])", () => {
  let srv: TestServer;
  const fx = useFixtures();

  it("closes every socket of that uid with 4000, and not another uid's", async () => {
    srv = await fx.startServer({ sendBufMs: { ws: 0 } });
    const tab1 = rawWs(srv.port, { uid: 'alice' });
    const tab2 = rawWs(srv.port, { uid: 'alice' });
    const bob = rawWs(srv.port, { uid: 'bob' });
    await Promise.all([tab1.handshake(), tab2.handshake(), bob.handshake()]);
    srv.chsk.send('alice', ['chsk/close']);
    expect(await tab1.closed).toEqual({ code: 4000, reason: 'chsk/close' });
    expect(await tab2.closed).toEqual({ code: 4000, reason: 'chsk/close' });
    // bob is still open and still gets pushes
    expect(bob.ws.readyState).toBe(bob.ws.OPEN);
    srv.chsk.send('bob', ['test/still-here', 1]);
    expect(await bob.next((m) => Array.isArray(m) && Array.isArray(m[0]) && m[0][0] !== 'chsk/handshake')).toEqual([[['test/still-here', 1]], null]);
    // chsk/close is a command, not an event: bob never saw it
    expect(pushedEvents(bob)).toEqual([['test/still-here', 1]]);
    await bob.close();
  });

  it('with flush, buffered events for the uid go out before the close', async () => {
    srv = await fx.startServer({ batching: 'window', sendBufMs: { ws: 10_000 } });
    const alice = rawWs(srv.port, { uid: 'alice' });
    await alice.handshake();
    srv.chsk.send('alice', ['test/last-words', 1]);
    srv.chsk.send('alice', ['chsk/close'], { flush: true });
    expect((await alice.closed).code).toBe(4000);
    expect(pushedEvents(alice)).toEqual([['test/last-words', 1]]);
  });
});

describe('event-msgs for presence carry the uid', () => {
  let srv: TestServer;
  const fx = useFixtures();

  it('uidport-open: id, data and uid are the uid that appeared', async () => {
    srv = await fx.startServer();
    const c = rawWs(srv.port, { uid: 'erin' });
    await c.handshake();
    const m: ServerEventMsg = await srv.next('chsk/uidport-open');
    expect({ id: m.id, data: m.data, uid: m.uid, clientId: m.clientId, transport: m.request.transport }).toEqual({
      id: 'chsk/uidport-open',
      data: 'erin',
      uid: 'erin',
      clientId: c.clientId,
      transport: 'ws',
    });
    expect(m.reply).toBeUndefined();
    await c.close();
  });
});

describe('presence cost (issue 9 item 5)', () => {
  /**
   * Counts, not time: every member a Set copy puts in goes through Set.prototype.add (the Set
   * constructor calls `add` for each value once it is patched), and every scan of a set starts an
   * iterator. An emission that copied or scanned its sets would cost O(users) of either per connect.
   */
  function countSetWork<T>(minSize: number, run: () => T): { result: T; adds: number; bigScans: number } {
    const proto = Set.prototype as Set<unknown> & { [Symbol.iterator]: () => IterableIterator<unknown> };
    const { add, values, keys, entries, forEach } = proto;
    const iter = proto[Symbol.iterator];
    let adds = 0;
    let bigScans = 0;
    const scan = <F extends (...args: never[]) => unknown>(f: F): F =>
      function (this: Set<unknown>, ...args: Parameters<F>) {
        if (this.size >= minSize) bigScans += 1;
        return f.apply(this, args);
      } as F;
    proto.add = function (this: Set<unknown>, v: unknown) {
      adds += 1;
      return add.call(this, v);
    };
    proto.values = scan(values);
    proto.keys = scan(keys);
    proto.entries = scan(entries);
    proto.forEach = scan(forEach);
    proto[Symbol.iterator] = scan(iter);
    try {
      return { result: run(), adds, bigScans };
    } finally {
      Object.assign(proto, { add, values, keys, entries, forEach, [Symbol.iterator]: iter });
    }
  }

  it('a connect emitted on its own copies and scans no set of all users: O(1) set work per change, however many are connected', () => {
    const users = 2_000;
    const scheduler = new ManualScheduler();
    // Window 0: every change is its own emission, the most a connect herd can cost.
    const broker = inMemoryBroker({ scheduler, presenceWindowMs: 0, recovery: false });
    const edges: string[] = [];
    const node: BrokerNode = { nodeId: 'n', deliver: () => undefined, request: () => undefined, reply: () => undefined, uidport: (uid, open) => edges.push(`${open ? 'open' : 'close'}:${uid}`) };
    broker.connect(node);
    let last: ConnectedUids | undefined;
    let seen = 0;
    broker.connectedUids$.subscribe((u) => {
      last = u;
      seen += 1;
    });
    const { adds, bigScans, result } = countSetWork(100, () => {
      let agreed = 0;
      for (let i = 0; i < users; i++) {
        broker.localPresence(`u${i}`, { ws: true, ajax: false });
        // What an app does with each emission: look a user up, count them.
        if (last?.any.has(`u${i}`) === true && last.ws.size === i + 1 && !last.ajax.has(`u${i}`)) agreed += 1;
      }
      return agreed;
    });
    expect(result).toBe(users);
    expect(seen).toBe(users + 1); // the initial empty value, then one per connect
    expect(edges).toHaveLength(users);
    // Copying the three sets per emission would add 3 · users²/2 = 6,000,000 members.
    expect(adds).toBeLessThan(12 * users);
    expect(bigScans).toBeLessThan(20);
    // And the sets are right: an old snapshot still holds what it held.
    const mid = last;
    broker.localPresence('u0', { ws: false, ajax: false });
    expect(mid?.any.has('u0')).toBe(true);
    expect(last?.any.has('u0')).toBe(false);
    expect([...(last?.any ?? [])].length).toBe(users - 1);
    expect(mid?.any.size).toBe(users);
  });
});
