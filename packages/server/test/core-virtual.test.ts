/**
 * The server core in virtual time, with fake channels and no sockets: every timer (grace, long-poll
 * hold and timeout, send windows, keep-alive ping and ping timeout) runs on a TestScheduler, so
 * these tests state exact times and cannot be late on a loaded machine.
 */
import { type Packed, SKIP_CSRF_CHECK } from '@sente-rx/core';
import { createChannelSocketServer, inMemoryBroker, type AjaxResponder, type RequestInfo, type RequestView, type ServerChannel, type ServerCore, type ServerOptions, type WsConnection } from '@sente-rx/server';
import { EMPTY, map, type Observable, ReplaySubject, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

interface FakeReq {
  readonly uid?: string;
}

/** An adapter that hands the test the core itself. */
const coreAdapter = { bind: (core: ServerCore<FakeReq>) => ({ core }) };

const view = (clientId: string, extra = ''): RequestView => ({
  method: 'GET',
  url: `/chsk?client-id=${clientId}${extra}`,
  query: new URLSearchParams(`client-id=${clientId}${extra}`),
  header: () => undefined,
});

const info = (transport: 'ws' | 'ajax'): RequestInfo => ({ transport, method: 'GET', url: '/chsk', headers: {}, remoteAddress: '127.0.0.1' });

/** What happened on a fake channel, as marble values. */
type Wire = string;

const describeMsg = (data: Packed): Wire => {
  const m = JSON.parse(String(data)) as [unknown, unknown];
  if (m[0] === 'chsk/ws-ping') return 'ping';
  if (m[0] === 'chsk/timeout') return 'timeout';
  if (Array.isArray(m[0]) && m[0][0] === 'chsk/handshake') return 'handshake';
  if (Array.isArray(m[0])) return `batch:${(m[0] as [string][]).map((e) => e[0]).join('+')}`;
  return `reply:${JSON.stringify(m[0])}`;
};

/**
 * A WebSocket as the core sees it; its 'close' event follows close()/terminate() in the same frame,
 * as a ws 'close' would. `wire` replays, so what happened at frame 0 (before expectObservable
 * subscribes, still at frame 0) keeps its frame.
 */
class FakeSocket implements ServerChannel {
  readyState = 1;
  bufferedAmount = 0;
  conn: WsConnection | undefined;
  readonly wire = new ReplaySubject<Wire>();

  constructor(private readonly ts: TestScheduler) {}

  send(data: Packed): void {
    this.wire.next(describeMsg(data));
  }

  close(code: number): void {
    this.end(`close:${code}`, code);
  }

  terminate(): void {
    this.end('terminate', 1006);
  }

  private end(what: Wire, code: number): void {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    this.wire.next(what);
    this.ts.schedule(() => this.conn?.closed(code));
  }
}

/** One Ajax response as the core sees it. */
class FakeResponse implements AjaxResponder {
  done = false;
  readonly wire = new ReplaySubject<Wire>();
  private abortFn: (() => void) | undefined;

  respond(status: number, body: Packed): void {
    if (this.done) return;
    this.done = true;
    this.wire.next(status === 200 ? describeMsg(body) : `status:${status}`);
    this.wire.complete();
  }

  onAbort(fn: () => void): void {
    this.abortFn = fn;
  }

  abort(): void {
    this.done = true;
    this.wire.complete();
    this.abortFn?.();
  }
}

function setup(ts: TestScheduler, options: ServerOptions<FakeReq> = {}) {
  const srv = createChannelSocketServer(coreAdapter, {
    userId: (req) => req.uid,
    csrfToken: () => SKIP_CSRF_CHECK,
    scheduler: ts,
    ...options,
  });
  const { core } = srv;
  const admit = (clientId: string, extra = '') => {
    const a = core.admit(view(clientId, extra), { uid: 'alice' });
    if (!a.ok) throw new Error(`refused: ${a.rejection.status}`);
    return a.request;
  };
  const ids$ = new ReplaySubject<string>();
  srv.recv$.pipe(map((m) => m.id)).subscribe(ids$);
  return {
    srv,
    /** The ids of every event-msg on recv$ (uidport-open/close, client events). */
    ids$: ids$ as Observable<string>,
    /** Opens `socket` (a fresh one by default) as a WebSocket of client `clientId` of uid alice. */
    ws(clientId: string, socket = new FakeSocket(ts)): FakeSocket {
      socket.conn = admit(clientId).wsOpen(socket, info('ws'));
      return socket;
    },
    /** One Ajax GET through `res`: a poll, or a handshake with `handshake`. */
    get(clientId: string, res = new FakeResponse(), handshake = false): FakeResponse {
      admit(clientId, handshake ? '&handshake%3F=1' : '').ajaxGet(info('ajax'), res);
      return res;
    },
  };
}

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

// close() completes recv$ after a microtask, outside the virtual frame: the marbles below end at
// close() without a completion, and what close() does synchronously (1001, answered polls) shows.

describe('server core in virtual time', () => {
  it('keep-alive: a silent socket is pinged after wsKeepAliveMs/2 and terminated wsPingTimeoutMs later', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      // tick = min(1000/2, 400)/4 = 100 ms: sweeps at 100, 200, …
      const t = setup(ts, { wsKeepAliveMs: 1_000, wsPingTimeoutMs: 400, reconnectGraceMs: { ws: 300 } });
      const silent = t.ws('c1');
      expectObservable(silent.wire).toBe('h 499ms p 399ms t', { h: 'handshake', p: 'ping', t: 'terminate' });
      // the uid leaves one grace period after the socket closed
      expectObservable(t.ids$).toBe('o 1199ms c', { o: 'chsk/uidport-open', c: 'chsk/uidport-close' });
      ts.schedule(() => void t.srv.close(), 2_000);
    });
  });

  it('keep-alive: any message answers the ping; with wsPingTimeoutMs 0 pings repeat and nobody is cut off', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 1_000, wsPingTimeoutMs: 400 });
      const polite = t.ws('c1');
      polite.wire.subscribe((w) => w === 'ping' && ts.schedule(() => polite.conn?.message('[["chsk/ws-pong"],null]', false), 50));
      // pinged at 500, answered at 550, so idle from 550: the next ping at the first sweep ≥ 1050
      expectObservable(polite.wire).toBe('h 499ms p 599ms p 599ms p 49ms c', { h: 'handshake', p: 'ping', c: 'close:1001' });
      // the pongs reach recv$ (the third, due at 1750, meets a closed server)
      expectObservable(t.ids$).toBe('o 549ms w 599ms w', { o: 'chsk/uidport-open', w: 'chsk/ws-pong' });
      ts.schedule(() => void t.srv.close(), 1_750);
    });
    const ts2 = newScheduler();
    ts2.run(({ expectObservable }) => {
      const t = setup(ts2, { wsKeepAliveMs: 400, wsPingTimeoutMs: 0 });
      const s = t.ws('c1');
      // tick = 200/4 = 50: a ping after every 200 ms of idleness, never a terminate
      expectObservable(s.wire).toBe('h 199ms p 199ms p 199ms p 49ms c', { h: 'handshake', p: 'ping', c: 'close:1001' });
      ts2.schedule(() => void t.srv.close(), 650);
    });
  });

  it('grace: a socket that comes back within reconnectGraceMs keeps the uid; one that does not loses it at the deadline', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, reconnectGraceMs: { ws: 1_000 } });
      const first = t.ws('c1');
      const second = new FakeSocket(ts);
      ts.schedule(() => first.close(1006), 100); // gone at 100: deadline 1100…
      ts.schedule(() => t.ws('c1', second), 1_050); // …back at 1050: no uidport-close
      ts.schedule(() => second.close(1006), 1_600); // gone for good at 1600: uidport-close at 2600
      expectObservable(second.wire).toBe('1050ms h 549ms x', { h: 'handshake', x: 'close:1006' });
      expectObservable(t.ids$).toBe('o 2599ms c', { o: 'chsk/uidport-open', c: 'chsk/uidport-close' });
      ts.schedule(() => void t.srv.close(), 3_000);
    });
  });

  it('long-poll: a held poll is answered by a push, or with chsk/timeout after lpTimeoutMs; the uid counts from the first poll', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, lpTimeoutMs: 1_000, batching: 'window', sendBufMs: { ajax: 100 }, reconnectGraceMs: { ajax: 500 } });
      const hs = t.get('a1', undefined, true);
      const poll1 = new FakeResponse();
      const poll2 = new FakeResponse();
      ts.schedule(() => t.get('a1', poll1), 10);
      ts.schedule(() => t.get('a1', poll2), 1_020);
      ts.schedule(() => t.srv.send('alice', ['test/x']), 1_100); // waits out the 100 ms window
      expectObservable(hs.wire).toBe('(h|)', { h: 'handshake' });
      expectObservable(poll1.wire).toBe('1010ms (t|)', { t: 'timeout' });
      expectObservable(poll2.wire).toBe('1200ms (b|)', { b: 'batch:test/x' });
      // no poll after 1200: the uid leaves one grace period later; the handshake alone did not count
      expectObservable(t.ids$).toBe('10ms o 1689ms c', { o: 'chsk/uidport-open', c: 'chsk/uidport-close' });
      ts.schedule(() => void t.srv.close(), 2_000);
    });
  });

  it('long-poll: an abandoned poll starts the grace period at once; close() answers a held poll', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, lpTimeoutMs: 1_000, reconnectGraceMs: { ajax: 300 } });
      t.get('a1', undefined, true);
      const abandoned = new FakeResponse();
      const held = new FakeResponse();
      ts.schedule(() => t.get('a1', abandoned), 10);
      ts.schedule(() => abandoned.abort(), 210); // grace from 210: uidport-close at 510
      ts.schedule(() => {
        t.get('b1', undefined, true);
        t.get('b1', held);
      }, 600);
      expectObservable(t.ids$).toBe('10ms o 499ms c 89ms o', { o: 'chsk/uidport-open', c: 'chsk/uidport-close' });
      expectObservable(held.wire).toBe('700ms (t|)', { t: 'timeout' });
      ts.schedule(() => void t.srv.close(), 700);
    });
  });

  it("batching 'window': pushes within sendBufMs go out as one batch; flush sends at once; a replaced socket gets 1000", () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, batching: 'window', sendBufMs: { ws: 30 }, reconnectGraceMs: { ws: 1_000 } });
      const s = t.ws('c1');
      const replacement = new FakeSocket(ts);
      ts.schedule(() => t.srv.send('alice', ['test/1']), 100);
      ts.schedule(() => t.srv.send('alice', ['test/2']), 110); // same window: both at 130
      ts.schedule(() => t.srv.send('alice', ['test/3'], { flush: true }), 200);
      ts.schedule(() => t.ws('c1', replacement), 300); // a newer socket of the same client
      expectObservable(s.wire).toBe('h 129ms a 69ms b 99ms c', { h: 'handshake', a: 'batch:test/1+test/2', b: 'batch:test/3', c: 'close:1000' });
      expectObservable(replacement.wire).toBe('300ms h 99ms c', { h: 'handshake', c: 'close:1001' });
      ts.schedule(() => void t.srv.close(), 400);
    });
  });

  it("batching 'adaptive' (default): an idle uid's push leaves at once; a burst in one turn is one batch; a busy uid's pushes are coalesced until sendBufMs after its last batch", () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, sendBufMs: { ws: 30 } });
      const s = t.ws('c1');
      const send = (id: string): void => t.srv.send('alice', [id]);
      ts.schedule(() => send('test/idle'), 100); // idle: out at 100
      ts.schedule(() => send('test/b1'), 110); // busy (a batch left at 100): waits until 130…
      ts.schedule(() => send('test/b2'), 125); // …and takes this one along
      ts.schedule(() => {
        // idle again (nothing out since 130, > 30 ms ago): a synchronous burst is one batch, at once
        send('test/s1');
        send('test/s2');
        send('test/s3');
      }, 300);
      expectObservable(s.wire).toBe('h 99ms a 29ms b 169ms c 99ms x', {
        h: 'handshake',
        a: 'batch:test/idle',
        b: 'batch:test/b1+test/b2',
        c: 'batch:test/s1+test/s2+test/s3',
        x: 'close:1001',
      });
      ts.schedule(() => void t.srv.close(), 400);
    });
  });

  it("batching 'adaptive': busy uids are served each at the end of its own window, whatever order their pushes came in", () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, sendBufMs: { ws: 30 } });
      const alice = t.ws('a1');
      const bob = new FakeSocket(ts);
      const a = t.srv.core.admit(view('b1'), { uid: 'bob' });
      if (a.ok) bob.conn = a.request.wsOpen(bob, info('ws'));
      ts.schedule(() => t.srv.send('alice', ['test/a1']), 100); // alice out at 100: busy until 130
      ts.schedule(() => t.srv.send('bob', ['test/b1']), 110); // bob out at 110: busy until 140
      ts.schedule(() => t.srv.send('bob', ['test/b2']), 115); // due 140
      ts.schedule(() => t.srv.send('alice', ['test/a2']), 120); // due 130, before bob's
      expectObservable(alice.wire).toBe('h 99ms a 29ms b 69ms x', { h: 'handshake', a: 'batch:test/a1', b: 'batch:test/a2', x: 'close:1001' });
      expectObservable(bob.wire).toBe('h 109ms a 29ms b 59ms x', { h: 'handshake', a: 'batch:test/b1', b: 'batch:test/b2', x: 'close:1001' });
      ts.schedule(() => void t.srv.close(), 200);
    });
  });

  it('batching: one scheduler action serves every uid of a burst, not a timer per uid', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      let scheduled = 0;
      const counting: SchedulerLike = {
        now: () => ts.now(),
        schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription {
          scheduled += 1;
          return ts.schedule(work, delay, state);
        },
      };
      const srv = createChannelSocketServer(coreAdapter, { userId: (req: FakeReq) => req.uid, csrfToken: () => SKIP_CSRF_CHECK, scheduler: counting, wsKeepAliveMs: 0, sendBufMs: { ws: 30 } });
      const sockets = Array.from({ length: 100 }, (_, i) => {
        const socket = new FakeSocket(ts);
        const a = srv.core.admit(view(`c${i}`), { uid: `u${i}` });
        if (a.ok) socket.conn = a.request.wsOpen(socket, info('ws'));
        return socket;
      });
      const counts: number[] = [];
      const burst = (): void => {
        const before = scheduled;
        for (let i = 0; i < 100; i++) srv.send(`u${i}`, ['test/x']);
        counts.push(scheduled - before);
      };
      ts.schedule(burst, 100); // every uid idle: one end-of-turn action
      ts.schedule(burst, 110); // every uid busy: one action for all their windows
      ts.schedule(() => void srv.close(), 200);
      for (const s of [sockets[0], sockets[99]]) {
        expectObservable(s?.wire ?? EMPTY).toBe('h 99ms a 29ms b 69ms x', { h: 'handshake', a: 'batch:test/x', b: 'batch:test/x', x: 'close:1001' });
      }
      ts.flush();
      expect(counts).toEqual([1, 1]);
    });
  });

  it('batching: sendBufMs 0 turns batching off in both modes: each push is sent at once, on its own', () => {
    for (const batching of ['adaptive', 'window'] as const) {
      const ts = newScheduler();
      ts.run(({ expectObservable }) => {
        const t = setup(ts, { wsKeepAliveMs: 0, batching, sendBufMs: { ws: 0 } });
        const s = t.ws('c1');
        const seen: string[] = [];
        s.wire.subscribe((w) => seen.push(w));
        ts.schedule(() => {
          t.srv.send('alice', ['test/1']);
          expect(seen).toEqual(['handshake', 'batch:test/1']); // sent within the call
          t.srv.send('alice', ['test/2']);
        }, 100);
        expectObservable(s.wire).toBe('h 99ms (ab) 96ms x', { h: 'handshake', a: 'batch:test/1', b: 'batch:test/2', x: 'close:1001' });
        ts.schedule(() => void t.srv.close(), 200);
      });
    }
  });

  it('batching: maxBatchEvents sends a full batch at once; flush sends the buffered events first, in order; every socket of the uid gets the batch', () => {
    for (const batching of ['adaptive', 'window'] as const) {
      const ts = newScheduler();
      ts.run(({ expectObservable }) => {
        const t = setup(ts, { wsKeepAliveMs: 0, batching, sendBufMs: { ws: 30 }, maxBatchEvents: 3 });
        const s1 = t.ws('c1');
        const s2 = t.ws('c2');
        const send = (id: string, flush = false): void => t.srv.send('alice', [id], { flush });
        ts.schedule(() => send('test/0', true), 100); // out at 100: the uid is busy until 130
        ts.schedule(() => {
          send('test/1');
          send('test/2');
          send('test/3'); // the third: the batch is full
          send('test/4');
        }, 110);
        ts.schedule(() => send('test/5', true), 120); // takes test/4 along, before it
        // busy: adaptive sends it 30 ms after the last batch (120), the window 30 ms after this push
        ts.schedule(() => send('test/6'), 125);
        const wire = batching === 'adaptive' ? 'h 99ms a 9ms b 9ms c 29ms d 49ms x' : 'h 99ms a 9ms b 9ms c 34ms d 44ms x';
        const values = { h: 'handshake', a: 'batch:test/0', b: 'batch:test/1+test/2+test/3', c: 'batch:test/4+test/5', d: 'batch:test/6', x: 'close:1001' };
        expectObservable(s1.wire).toBe(wire, values);
        expectObservable(s2.wire).toBe(wire, values);
        ts.schedule(() => void t.srv.close(), 200);
      });
    }
  });

  it("batching 'adaptive', Ajax: a held poll is answered at once by an idle uid's burst; while busy, pushes are coalesced for sendBufMs.ajax", () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, lpTimeoutMs: 1_000, sendBufMs: { ajax: 100 } });
      t.get('a1', undefined, true);
      const poll1 = t.get('a1');
      const poll2 = new FakeResponse();
      ts.schedule(() => {
        t.srv.send('alice', ['test/1']);
        t.srv.send('alice', ['test/2']);
      }, 50); // idle: poll1 answered at 50 with both
      ts.schedule(() => t.get('a1', poll2), 60); // the client polls again…
      ts.schedule(() => t.srv.send('alice', ['test/3']), 70); // …busy (answered at 50): waits 100 ms, so poll2 gets test/3 at 170
      expectObservable(poll1.wire).toBe('50ms (b|)', { b: 'batch:test/1+test/2' });
      expectObservable(poll2.wire).toBe('170ms (b|)', { b: 'batch:test/3' });
      ts.schedule(() => void t.srv.close(), 300);
    });
  });

  it("batching 'adaptive', Ajax: while a client of the uid is between polls, the uid's pushes wait for the window, so its next poll is held for them", () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, lpTimeoutMs: 1_000, sendBufMs: { ajax: 100 } });
      t.get('a1', undefined, true);
      t.get('a2', undefined, true);
      const held = t.get('a1'); // a2 has no poll held
      const late = new FakeResponse();
      ts.schedule(() => t.srv.send('alice', ['test/1']), 50); // not all polling: due at 150
      ts.schedule(() => t.get('a2', late), 80); // a2's poll is held until then, not answered from a queue
      expectObservable(held.wire).toBe('150ms (b|)', { b: 'batch:test/1' });
      expectObservable(late.wire).toBe('150ms (b|)', { b: 'batch:test/1' });
      ts.schedule(() => void t.srv.close(), 300);
    });
  });

  it('send windows: a push to a client in its grace period waits, and reaches it when it reconnects', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, sendBufMs: { ws: 30 }, reconnectGraceMs: { ws: 1_000 } });
      const s = t.ws('c1');
      const back = new FakeSocket(ts);
      ts.schedule(() => s.close(1006), 50);
      ts.schedule(() => t.srv.send('alice', ['test/missed']), 100); // no channel at 130: kept pending
      ts.schedule(() => t.ws('c1', back), 500);
      expectObservable(back.wire).toBe('500ms (hm) 96ms c', { h: 'handshake', m: 'batch:test/missed', c: 'close:1001' });
      ts.schedule(() => void t.srv.close(), 600);
    });
  });

  it('Ajax POST: a reply goes out when given; one never given is answered chsk/timeout after lpTimeoutMs', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 0, lpTimeoutMs: 1_000 });
      t.srv.recv$.subscribe((m) => m.id === 'test/echo' && ts.schedule(() => m.reply?.({ n: m.data }), 200));
      const post = (event: unknown): FakeResponse => {
        const res = new FakeResponse();
        const a = t.srv.core.admit(view('p1'), { uid: 'alice' });
        if (a.ok) a.request.ajaxPost(info('ajax'), JSON.stringify([event, 'ajax']), res);
        return res;
      };
      const echoed = post(['test/echo', 7]);
      const ignored = post(['test/ignored']);
      expectObservable(echoed.wire).toBe('200ms (r|)', { r: 'reply:{"n":7}' });
      expectObservable(ignored.wire).toBe('1000ms (t|)', { t: 'timeout' });
    });
  });

  it('no timer outlives close(): nothing fires after it, however long virtual time could run', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = setup(ts, { wsKeepAliveMs: 1_000, batching: 'window', sendBufMs: { ws: 10_000, ajax: 10_000 }, reconnectGraceMs: { ws: 10_000, ajax: 10_000 }, lpTimeoutMs: 30_000 });
      const s = t.ws('c1');
      t.get('a1', undefined, true);
      const held = t.get('a1');
      t.srv.send('alice', ['test/buffered']);
      ts.schedule(() => void t.srv.close(), 100);
      expectObservable(s.wire).toBe('h 99ms c', { h: 'handshake', c: 'close:1001' });
      expectObservable(held.wire).toBe('100ms (t|)', { t: 'timeout' });
      expectObservable(t.ids$).toBe('o', { o: 'chsk/uidport-open' });
    });
    // run() returns once the queue is empty: a surviving interval would never let it, a timer would move the clock
    expect(ts.now()).toBe(100);
  });
});

/** A scheduler that counts the actions scheduled on `ts` (re-arming an action counts as one more). */
function countingScheduler(ts: TestScheduler): { readonly scheduler: SchedulerLike; readonly count: () => number } {
  let scheduled = 0;
  return {
    scheduler: {
      now: () => ts.now(),
      schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription {
        scheduled += 1;
        return ts.schedule(work, delay, state);
      },
    },
    count: () => scheduled,
  };
}

describe('reconnect grace periods in virtual time (issue 10: one action for all)', () => {
  /**
   * n Ajax clients, one per uid, handshake and hold a poll at 0; every uid is pushed to at 100 and
   * 300 (each push answers a poll: n grace periods start), every client polls again at 200, the odd
   * ones again at 400. Returns the actions scheduled during each phase and the uidport-close edges.
   */
  function answeredPolls(n: number) {
    const ts = newScheduler();
    const counter = countingScheduler(ts);
    const counts: number[] = [];
    const closes: string[] = [];
    ts.run(() => {
      const srv = createChannelSocketServer(coreAdapter, {
        userId: (req: FakeReq) => req.uid,
        csrfToken: () => SKIP_CSRF_CHECK,
        scheduler: counter.scheduler,
        wsKeepAliveMs: 0,
        sendBufMs: { ajax: 0 }, // answered at once: no send window in the count
        broker: inMemoryBroker({ scheduler: ts, presenceWindowMs: 0, recovery: false }),
      });
      srv.recv$.subscribe((m) => m.id === 'chsk/uidport-close' && closes.push(`${ts.now()} ${String(m.data)}`));
      const get = (i: number, handshake: boolean): void => {
        const a = srv.core.admit(view(`a${i}`, handshake ? '&handshake%3F=1' : ''), { uid: `u${i}` });
        if (a.ok) a.request.ajaxGet(info('ajax'), new FakeResponse());
      };
      const before = counter.count();
      for (let i = 0; i < n; i++) {
        get(i, true);
        get(i, false);
      }
      counts.push(counter.count() - before);
      const phase = (at: number, fn: () => void): void => {
        ts.schedule(() => {
          const before = counter.count();
          fn();
          counts.push(counter.count() - before);
        }, at);
      };
      const pushAll = (): void => {
        for (let i = 0; i < n; i++) srv.send(`u${i}`, ['test/x']);
      };
      phase(100, pushAll);
      phase(200, () => {
        for (let i = 0; i < n; i++) get(i, false);
      });
      phase(300, pushAll);
      phase(400, () => {
        for (let i = 1; i < n; i += 2) get(i, false);
      });
      ts.schedule(() => void srv.close(), 6_000);
    });
    return { counts, closes, total: counter.count() };
  }

  it('n answered polls arm one action, not n; cancels arm none; the counts do not grow with n', () => {
    const small = answeredPolls(10);
    const large = answeredPolls(300);
    // 0: n handshakes (each answer starts a grace period, the poll after it cancels it) and n held
    // polls: the grace action (set for 5000) and the held polls' lpTimeoutMs action, once each;
    // 100: n answered polls, n grace periods: none (the action is set for sooner); 200: n polls
    // cancel them and arm the held polls' action again (the pushes emptied the held set); 300, 400: the same.
    expect(large.counts).toEqual([2, 0, 1, 0, 1]);
    expect(large.total).toBe(small.total);
    // the even clients did not poll after 300: each leaves at 300 + 5000, exactly
    expect(large.closes).toEqual(Array.from({ length: 150 }, (_, k) => `5300 u${2 * k}`));
    expect(small.closes).toEqual(Array.from({ length: 5 }, (_, k) => `5300 u${2 * k}`));
  });

  /** One client's life: it connects at `start`, holds each session `len` ms, and is away `gap` ms after each but the last. */
  interface Life {
    readonly uid: number;
    readonly transport: 'ws' | 'ajax';
    readonly start: number;
    readonly sessions: readonly { readonly len: number; readonly gap: number; readonly byPush: boolean }[];
  }
  const GRACE = { ws: 300, ajax: 500 } as const;
  const UIDS = 6;
  // Multiples of 10 ms, and gaps of exactly the grace period, so deadlines and reconnects share instants.
  const life: fc.Arbitrary<Life> = fc.record({
    uid: fc.nat({ max: UIDS - 1 }),
    transport: fc.constantFrom('ws' as const, 'ajax' as const),
    start: fc.nat({ max: 30 }).map((x) => x * 10),
    sessions: fc.array(
      fc.record({
        len: fc.integer({ min: 1, max: 40 }).map((x) => x * 10),
        gap: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 100 }).map((x) => x * 10)),
        byPush: fc.boolean(),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  });

  /** The reference: when each client counts as connected, from its lifes alone (Sente §4.7). */
  function expected(lives: readonly Life[]) {
    const spans = lives.map((l) => {
      const g = GRACE[l.transport];
      const out: [number, number][] = [];
      let from = l.start;
      let at = l.start;
      l.sessions.forEach((s, k) => {
        const end = at + s.len;
        const gap = s.gap === -1 ? g : s.gap;
        if (k === l.sessions.length - 1 || gap > g) {
          out.push([from, end + g]); // gone at the deadline…
          from = end + gap; // …unless back by then (a reconnect at the deadline itself is in time)
        }
        at = end + gap;
      });
      return out;
    });
    const edges: string[] = [];
    for (let u = 0; u < UIDS; u++) {
      const mine = lives.flatMap((l, i) => (l.uid === u ? (spans[i] ?? []) : [])).sort((a, b) => a[0] - b[0]);
      let cur: [number, number] | undefined;
      for (const [a, b] of mine) {
        if (cur !== undefined && a <= cur[1]) cur[1] = Math.max(cur[1], b);
        else {
          if (cur !== undefined) edges.push(`${cur[0]} open u${u}`, `${cur[1]} close u${u}`);
          cur = [a, b];
        }
      }
      if (cur !== undefined) edges.push(`${cur[0]} open u${u}`, `${cur[1]} close u${u}`);
    }
    const at = (t: number, transport?: 'ws' | 'ajax'): string[] =>
      [...new Set(lives.flatMap((l, i) => ((transport === undefined || l.transport === transport) && (spans[i] ?? []).some(([a, b]) => a <= t && t < b) ? [`u${l.uid}`] : [])))].sort();
    return { edges: edges.sort(), at };
  }

  it('model check: the uidport edges and connectedUids$ of many clients with interleaved reconnects are those of the reference, at the exact instants', () => {
    fc.assert(
      fc.property(fc.array(life, { minLength: 1, maxLength: 24 }), (lives) => {
        const ts = newScheduler();
        const edges: string[] = [];
        const samples: string[] = [];
        const want = expected(lives);
        const wantSamples: string[] = [];
        ts.run(() => {
          const srv = createChannelSocketServer(coreAdapter, {
            userId: (req: FakeReq) => req.uid,
            csrfToken: () => SKIP_CSRF_CHECK,
            scheduler: ts,
            wsKeepAliveMs: 0,
            lpTimeoutMs: 50_000, // longer than any life: a poll ends by a push or an abort only
            sendBufMs: { ws: 0, ajax: 0 },
            reconnectGraceMs: GRACE,
            broker: inMemoryBroker({ scheduler: ts, presenceWindowMs: 0, recovery: false }),
          });
          srv.recv$.subscribe((m) => {
            if (m.id === 'chsk/uidport-open' || m.id === 'chsk/uidport-close') edges.push(`${ts.now()} ${m.id.slice(13)} ${String(m.data)}`);
          });
          const admit = (i: number, uid: number, handshake: boolean) => {
            const a = srv.core.admit(view(`k${i}`, handshake ? '&handshake%3F=1' : ''), { uid: `u${uid}` });
            if (!a.ok) throw new Error('refused');
            return a.request;
          };
          let last = 0;
          lives.forEach((l, i) => {
            const g = GRACE[l.transport];
            let socket: FakeSocket | undefined;
            let poll: FakeResponse | undefined;
            const connect = (fresh: boolean): void => {
              if (l.transport === 'ws') {
                socket = new FakeSocket(ts);
                socket.conn = admit(i, l.uid, false).wsOpen(socket, info('ws'));
              } else {
                if (fresh) admit(i, l.uid, true).ajaxGet(info('ajax'), new FakeResponse());
                poll = new FakeResponse();
                admit(i, l.uid, false).ajaxGet(info('ajax'), poll);
              }
            };
            ts.schedule(() => connect(true), l.start);
            let at = l.start;
            l.sessions.forEach((s, k) => {
              const end = at + s.len;
              ts.schedule(() => {
                if (l.transport === 'ws') socket?.close(1006);
                else if (s.byPush) srv.send({ uid: `u${l.uid}`, clientId: `k${i}` }, ['test/x']);
                else poll?.abort();
              }, end);
              const gap = s.gap === -1 ? g : s.gap;
              if (k < l.sessions.length - 1) ts.schedule(() => connect(gap > g), end + gap);
              at = end + gap;
              last = Math.max(last, end + g);
            });
          });
          // connectedUids$ halfway between the 10 ms instants of every change
          for (let t = 5; t < last + 10; t += 50) {
            ts.schedule(() => {
              const v = srv.connectedUids$.value;
              samples.push(`${t} ${[...v.any].sort().join(',')} ws:${[...v.ws].sort().join(',')} ajax:${[...v.ajax].sort().join(',')}`);
            }, t);
            wantSamples.push(`${t} ${want.at(t).join(',')} ws:${want.at(t, 'ws').join(',')} ajax:${want.at(t, 'ajax').join(',')}`);
          }
          ts.schedule(() => void srv.close(), last + 10);
        });
        expect(edges.sort()).toEqual(want.edges);
        expect(samples).toEqual(wantSamples);
      }),
      { numRuns: 150, seed: 10 },
    );
  });
});
