/**
 * Recovery as a property of the real server core (sessions, outbox batching, grace periods, the
 * in-memory log) in virtual time, with fake WebSockets and the client's own tracker reading every
 * frame: any interleaving of sends (to the uid, to one client, to everyone), time passing, silent
 * losses, disconnects and reconnects (with sends landing while the log is read) gives each client
 * the events after its first handshake in order with no duplicates, or a `recovered: false`
 * exactly where a gap is.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type ChskEvent, type Packed, parseServerMessage, type Position, silentLogger, SKIP_CSRF_CHECK } from '@sente-rx/core';
import {
  type AjaxResponder,
  type BrokerNode,
  createChannelSocketServer,
  inMemoryBroker,
  type LoggedEvent,
  type RequestInfo,
  type ServerChannel,
  type ServerCore,
  type WsConnection,
} from '@sente-rx/server';
import { ManualScheduler } from '@sente-rx/fixtures';
import { createRecoveryTracker } from '../../client/src/recovery.js';
import { expectDelivered, type Seen } from './recovery-check.js';

const UID = 'alice';
const CLIENTS = ['c1', 'c2'] as const;
type Name = (typeof CLIENTS)[number];
const INFO: RequestInfo = { transport: 'ws', method: 'GET', url: '/chsk', headers: {}, remoteAddress: '127.0.0.1' };

type Action =
  | { readonly kind: 'send'; readonly to: 'uid' | 'all' | Name; readonly flush: boolean }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'disconnect'; readonly who: Name }
  | { readonly kind: 'lose'; readonly who: Name }
  | { readonly kind: 'reconnect'; readonly who: Name; readonly during: readonly (readonly [turns: number, flush: boolean])[] };

const who = fc.constantFrom(...CLIENTS);
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('send' as const), to: fc.constantFrom('uid' as const, 'uid' as const, 'all' as const, ...CLIENTS), flush: fc.boolean() }) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 120 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 2, arbitrary: who.map((w) => ({ kind: 'disconnect' as const, who: w })) },
  { weight: 1, arbitrary: who.map((w) => ({ kind: 'lose' as const, who: w })) },
  { weight: 3, arbitrary: fc.tuple(who, fc.array(fc.tuple(fc.nat({ max: 5 }), fc.boolean()), { maxLength: 4 })).map(([w, during]) => ({ kind: 'reconnect' as const, who: w, during })) },
);


class Socket implements ServerChannel {
  readyState = 1;
  bufferedAmount = 0;
  /** A silent network loss: frames vanish. */
  lost = false;
  constructor(private readonly onFrame: (data: Packed) => void) {}
  send(data: Packed): void {
    if (this.readyState === 1 && !this.lost) this.onFrame(data);
  }
  close(): void {
    this.readyState = 3;
  }
  terminate(): void {
    this.readyState = 3;
  }
}

class Client {
  readonly tracker = createRecoveryTracker(silentLogger);
  readonly seen: Seen[] = [];
  socket: Socket | undefined;
  conn: WsConnection | undefined;
  /** Its first handshake's position: every event after it is owed. */
  cut: Position | undefined;
  handshakes = 0;
  constructor(readonly name: Name) {}

  frame(data: Packed): void {
    const msg = parseServerMessage(JSON.parse(String(data)));
    if (!msg.ok) throw new Error(msg.reason);
    const m = msg.value;
    if (m.kind === 'handshake') {
      this.handshakes++;
      const recovered = this.tracker.onHandshake(m.recovery);
      this.cut ??= m.recovery?.position;
      if (recovered === false) this.seen.push({ kind: 'gap' });
    } else if (m.kind === 'batch') {
      for (const ev of this.tracker.filter(m.events)) this.seen.push({ kind: 'event', n: (ev as readonly [string, number])[1] });
    }
  }
}

/** One Ajax request: answered (or abandoned) once. */
class Responder implements AjaxResponder {
  done = false;
  private readonly aborts: (() => void)[] = [];
  constructor(private readonly answered: (status: number, body: Packed) => void) {}
  respond(status: number, body: Packed): void {
    if (this.done) return;
    this.done = true;
    this.answered(status, body);
  }
  onAbort(fn: () => void): void {
    this.aborts.push(fn);
  }
  abort(): void {
    if (this.done) return;
    this.done = true;
    for (const f of this.aborts) f();
  }
}

/** A long-polling client over the core: a handshake GET, then polls carrying its position, one at a time. */
class AjaxLink {
  active = false;
  lost = false;
  /** Requests made: a bound, so a server that keeps answering a poll at once (a loop) fails the run instead of hanging it. */
  requests = 0;
  static readonly MAX_REQUESTS = 5_000;
  private held: Responder | undefined;
  constructor(
    private readonly core: ServerCore<{ uid: string }>,
    private readonly c: Client,
  ) {}
  private get(handshake: boolean): void {
    if (++this.requests > AjaxLink.MAX_REQUESTS) {
      this.active = false;
      return;
    }
    const q = new URLSearchParams({ 'client-id': this.c.name, pos: this.c.tracker.queryValue() });
    if (handshake) q.set('handshake?', '1');
    const res = new Responder((status, body) => {
      if (this.held === res) this.held = undefined;
      if (!this.active || this.lost) return; // the answer never arrived
      if (status === 200) this.c.frame(body);
      // Poll again, as the client does after every answer (a microtask later, like a fetch).
      queueMicrotask(() => {
        if (this.active && !this.lost && this.held === undefined) this.get(false);
      });
    });
    this.held = res;
    this.core.ajaxGet({ method: 'GET', url: `/chsk?${q}`, query: q, header: () => undefined }, { uid: UID }, { ...INFO, transport: 'ajax' }, res);
  }
  start(): void {
    this.active = true;
    this.lost = false;
    this.get(true);
  }
  stop(): void {
    this.active = false;
    this.held?.abort();
    this.held = undefined;
  }
}

async function run(actions: readonly Action[], maxEvents: number, graceMs: number, transport: 'ws' | 'ajax' = 'ws'): Promise<void> {
  const scheduler = new ManualScheduler();
  const broker = inMemoryBroker({ scheduler, recovery: { maxEvents, maxAgeMs: 100_000 }, presenceWindowMs: 0 });
  /** Where each send landed in the log, by its number. */
  const placeOf = new Map<number, LoggedEvent>();
  const connect = broker.connect.bind(broker);
  broker.connect = (node: BrokerNode) =>
    connect({
      ...node,
      nodeId: node.nodeId,
      deliver: (msg) => {
        for (const e of msg.logged ?? []) placeOf.set((e.event as readonly [string, number])[1], e);
        node.deliver(msg);
      },
    });
  let core: ServerCore<{ uid: string }> | undefined;
  const chsk = createChannelSocketServer<{ uid: string }, object>(
    { bind: (c) => ((core = c), {}) },
    { userId: (r) => r.uid, csrfToken: () => SKIP_CSRF_CHECK, logger: silentLogger, scheduler, broker, wsKeepAliveMs: 0, reconnectGraceMs: { ws: graceMs, ajax: graceMs } },
  );
  const srv = core;
  if (srv === undefined) throw new Error('no core');
  const clients = new Map(CLIENTS.map((c) => [c, new Client(c)]));
  const sentTo: (readonly Name[])[] = [];

  const send = (to: 'uid' | 'all' | Name, flush: boolean): void => {
    const n = sentTo.length;
    sentTo.push(to === 'uid' || to === 'all' ? CLIENTS : [to]);
    const ev: ChskEvent = ['app/ev', n];
    if (to === 'uid') chsk.send(UID, ev, { flush });
    else if (to === 'all') chsk.broadcast(ev, { flush });
    else chsk.send({ uid: UID, clientId: to }, ev, { flush });
  };
  const links = new Map<Client, AjaxLink>();
  const link = (c: Client): AjaxLink => {
    let l = links.get(c);
    if (l === undefined) links.set(c, (l = new AjaxLink(srv, c)));
    return l;
  };
  const disconnect = (c: Client): void => {
    if (transport === 'ajax') {
      link(c).stop();
      return;
    }
    if (c.socket === undefined) return;
    c.socket.close();
    c.conn?.closed(1006);
    c.socket = undefined;
  };
  const reconnect = async (c: Client, during: readonly (readonly [number, boolean])[]): Promise<void> => {
    disconnect(c);
    const before = c.handshakes;
    if (transport === 'ajax') link(c).start();
    else {
      const q = new URLSearchParams({ 'client-id': c.name, pos: c.tracker.queryValue() });
      const socket = new Socket((d) => c.frame(d));
      c.socket = socket;
      c.conn = srv.wsOpen(socket, { method: 'GET', url: `/chsk?${q}`, query: q, header: () => undefined }, { uid: UID }, INFO);
    }
    for (const [turns, flush] of during) {
      for (let i = 0; i < turns; i++) await Promise.resolve();
      send('uid', flush);
    }
    for (let i = 0; i < 50 && c.handshakes === before; i++) await Promise.resolve();
    expect(c.handshakes, 'the handshake came').toBe(before + 1);
  };

  for (const a of actions) {
    const c = 'who' in a ? clients.get(a.who) : undefined;
    switch (a.kind) {
      case 'send':
        send(a.to, a.flush);
        break;
      case 'advance':
        scheduler.advance(a.ms);
        for (let i = 0; i < 20; i++) await Promise.resolve(); // polls answered from the log
        break;
      case 'disconnect':
        if (c !== undefined) disconnect(c);
        break;
      case 'lose':
        if (c?.socket !== undefined) c.socket.lost = true;
        if (c !== undefined && transport === 'ajax') link(c).lost = true;
        break;
      case 'reconnect':
        if (c !== undefined) await reconnect(c, a.during);
        break;
    }
  }
  // Everyone comes back at the end and the batches go out: every owed event is delivered or explained.
  for (const c of clients.values()) if (c.cut !== undefined) await reconnect(c, []);
  for (let round = 0; round < 5; round++) {
    scheduler.advance(300);
    for (let i = 0; i < 50; i++) await Promise.resolve();
  }
  for (const l of links.values()) {
    l.stop();
    expect(l.requests, 'a bounded number of polls (no poll answered at once forever)').toBeLessThanOrEqual(AjaxLink.MAX_REQUESTS);
  }

  for (const c of clients.values()) {
    const cut = c.cut;
    if (cut === undefined) continue;
    expectDelivered(c.name, c.seen, sentTo, (n) => {
      const place = placeOf.get(n);
      return place !== undefined && place.seq > (place.stream === 'u' ? cut.u : cut.g); // after its first handshake
    });
  }
  await chsk.close();
  await broker.close();
}

describe.each(['ws', 'ajax'] as const)('recovery on the real server core over %s (property, virtual time, fake transports)', (transport) => {
  it('every client gets its events in order, once, or recovered:false exactly at a gap', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 50 }), fc.integer({ min: 3, max: 40 }), fc.integer({ min: 10, max: 200 }), async (actions, maxEvents, graceMs) => {
        await run(actions, maxEvents, graceMs, transport);
      }),
      { numRuns: 150 },
    );
  });
});
