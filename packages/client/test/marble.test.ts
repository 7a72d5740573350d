/**
 * Time logic in virtual time: request timeouts, the reconnect backoff schedule and the
 * keep-alive. The client runs against a scripted in-memory WebSocket; every timer goes through
 * RxJS's asyncScheduler, which TestScheduler.run() drives.
 */
import { describe, expect, it } from 'vitest';
import { asyncScheduler, map, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ChskError, fullJitterBackoff } from '@sente-rx/core';
import { createChannelSocketClient, type ClientOptions, type WebSocketLike } from '@sente-rx/client';

type Behaviour = (ws: FakeWs) => void;

/** A scripted WebSocket: `behaviour` runs one virtual ms after construction. */
class FakeWs implements WebSocketLike {
  readyState = 0;
  binaryType = 'blob';
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onerror: WebSocketLike['onerror'] = null;
  onclose: WebSocketLike['onclose'] = null;
  readonly sent: unknown[] = [];
  onSend: (msg: unknown) => void = () => undefined;

  constructor(
    readonly url: string,
    behaviour: Behaviour,
  ) {
    asyncScheduler.schedule(() => behaviour(this), 1);
  }
  send(data: string): void {
    const msg: unknown = JSON.parse(data);
    this.sent.push(msg);
    this.onSend(msg);
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    asyncScheduler.schedule(() => this.onclose?.({ code, reason, wasClean: true }), 1);
  }
  // server side of the script
  open(uid = 'u'): void {
    this.readyState = 1;
    this.onopen?.({});
    this.deliver([['chsk/handshake', [uid, null, null, true]], null]);
  }
  deliver(value: unknown): void {
    this.onmessage?.({ data: JSON.stringify(value) });
  }
  fail(): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: '', wasClean: false });
  }
}

function fakeCtor(behaviour: Behaviour, created?: Subject<FakeWs>): ClientOptions['WebSocket'] {
  return class extends FakeWs {
    constructor(url: string) {
      super(url, behaviour);
      created?.next(this);
    }
  };
}

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
// Keep-alive off unless a test is about it: a recurring timer would keep flush() going forever.
const base: ClientOptions = { type: 'ws', host: 'test', protocol: 'http:', storage: null, wsKeepAliveMs: 0 };
// The request tests flush() after the open and count from there: no stable-connection timer (5 s) in the way.
const noTimers: ClientOptions = { ...base, stableMs: 0 };

describe('request timeout (marbles)', () => {
  it('errors chsk/timeout exactly timeoutMs after the send when no reply comes', () => {
    newScheduler().run(({ expectObservable, flush }) => {
      const c = createChannelSocketClient('/chsk', null, { ...noTimers, WebSocket: fakeCtor((ws) => ws.open()) });
      flush(); // open at 1 ms
      expectObservable(c.send(['t/req', 1], { timeoutMs: 100 })).toBe('- 100ms #', undefined, new ChskError('chsk/timeout', 'no reply within timeoutMs'));
      flush();
      expect(c.pendingRequests).toBe(0);
      c.close();
    });
  });

  it('emits the reply once and completes when it comes in time; a late duplicate is ignored', () => {
    newScheduler().run(({ expectObservable, flush }) => {
      const c = createChannelSocketClient('/chsk', null, {
        ...noTimers,
        WebSocket: fakeCtor((ws) => {
          ws.onSend = (msg) => {
            const [ev, cbId] = msg as [unknown[], string | null];
            if (ev[0] === 't/req' && cbId !== null) {
              asyncScheduler.schedule(() => ws.deliver([{ ok: 1 }, cbId]), 30);
              asyncScheduler.schedule(() => ws.deliver([{ ok: 2 }, cbId]), 40);
            }
          };
          ws.open();
        }),
      });
      flush();
      expectObservable(c.send(['t/req'], { timeoutMs: 100 })).toBe('- 30ms (r|)', { r: { ok: 1 } });
      flush();
      expect(c.pendingRequests).toBe(0);
      c.close();
    });
  });
});

describe('reconnect backoff (marbles)', () => {
  it('retries at once, then follows capped full jitter (random 0.5: 1 s, 2 s, 4 s, 8 s, then the 30 s cap halves to 15 s)', () => {
    newScheduler().run(({ expectObservable }) => {
      const created = new Subject<FakeWs>();
      const t0 = asyncScheduler.now();
      const times$ = created.pipe(map(() => asyncScheduler.now() - t0));
      expectObservable(times$, '^ 60s !').toBe('a b 1000ms c 2000ms d 4000ms e 8000ms f 15000ms g 15000ms h', {
        a: 0,
        b: 1,
        c: 1002,
        d: 3003,
        e: 7004,
        f: 15005,
        g: 30006,
        h: 45007,
      });
      // Created in a scheduled action so the expectation is already subscribed at frame 0.
      asyncScheduler.schedule(() => {
        const c = createChannelSocketClient('/chsk', null, {
          ...base,
          WebSocket: fakeCtor((ws) => ws.fail(), created),
          backoffMs: fullJitterBackoff({ random: () => 0.5 }),
        });
        asyncScheduler.schedule(() => c.close(), 59_000);
      }, 0);
    });
  });
});

describe('keep-alive (marbles)', () => {
  const opts = { wsKeepAliveMs: 1_000, wsPingTimeoutMs: 200 };

  it('a silent server: ping after wsKeepAliveMs/2 of silence, then reconnect with reason ws-ping-timeout after wsPingTimeoutMs', () => {
    newScheduler().run(({ expectObservable }) => {
      const created = new Subject<FakeWs>();
      const t0 = asyncScheduler.now();
      expectObservable(created.pipe(map(() => asyncScheduler.now() - t0)), '^ 1000ms !').toBe('a 700ms b', { a: 0, b: 701 });
      asyncScheduler.schedule(() => {
        const c = createChannelSocketClient('/chsk', null, { ...base, ...opts, WebSocket: fakeCtor((ws) => ws.open(), created) });
        const reasons: unknown[] = [];
        c.state$.subscribe(([, s]) => s.closed && reasons.push(s.lastClose?.reason));
        asyncScheduler.schedule(() => {
          expect(reasons).toEqual(['ws-ping-timeout']);
          c.close();
        }, 900);
      }, 0);
    });
  });

  it('a server that answers pong keeps the socket; the ping is sent only after silence', () => {
    newScheduler().run(({ flush }) => {
      const sockets: FakeWs[] = [];
      const c = createChannelSocketClient('/chsk', null, {
        ...base,
        ...opts,
        WebSocket: fakeCtor((ws) => {
          sockets.push(ws);
          ws.onSend = (msg) => {
            const [ev, cbId] = msg as [unknown[], string | null];
            if (ev[0] === 'chsk/ws-ping') asyncScheduler.schedule(() => ws.deliver(['pong', cbId]), 50);
          };
          ws.open();
        }),
      });
      asyncScheduler.schedule(() => c.close(), 5_000);
      flush();
      expect(sockets).toHaveLength(1);
      const pings = sockets[0]!.sent.filter((m) => (m as [unknown[]])[0][0] === 'chsk/ws-ping');
      // open at 1 ms; ticks every 500 ms; each ping's pong counts as traffic, so the next tick
      // sees recent traffic and skips: a ping every other tick.
      expect(pings.length).toBeGreaterThanOrEqual(4);
      expect(pings.length).toBeLessThanOrEqual(5);
      expect(c.state.lastClose?.reason).toBe('requested-disconnect');
    });
  });

  it('answers a server ping with a pong and surfaces chsk/ws-ping on recv$', () => {
    newScheduler().run(({ flush }) => {
      let sock: FakeWs | undefined;
      const c = createChannelSocketClient('/chsk', null, {
        ...base,
        WebSocket: fakeCtor((ws) => {
          sock = ws;
          ws.open();
          asyncScheduler.schedule(() => ws.deliver(['chsk/ws-ping', null]), 10);
        }),
      });
      const ids: string[] = [];
      c.recv$.subscribe((m) => ids.push(m.id));
      flush();
      expect(sock?.sent).toContainEqual([['chsk/ws-pong'], null]);
      expect(ids).toContain('chsk/ws-ping');
      c.close();
    });
  });
});

describe('keep-alive races (marbles)', () => {
  it('a ping timeout longer than the tick: one ping at a time, and exactly one new socket', () => {
    newScheduler().run(({ flush }) => {
      const created: number[] = [];
      const sockets: FakeWs[] = [];
      const t0 = asyncScheduler.now();
      const made = new Subject<FakeWs>();
      made.subscribe((ws) => (created.push(asyncScheduler.now() - t0), sockets.push(ws)));
      const c = createChannelSocketClient('/chsk', null, {
        ...base,
        wsKeepAliveMs: 200, // ticks every 100 ms
        wsPingTimeoutMs: 150, // the tick at 201 comes while the ping sent at 101 is out
        WebSocket: fakeCtor((ws) => ws.open(), made),
      });
      const reasons: unknown[] = [];
      c.state$.subscribe(([, s]) => s.closed && reasons.push(s.lastClose?.reason));
      asyncScheduler.schedule(() => c.close(), 300);
      flush();
      expect(created).toEqual([0, 251]);
      expect(sockets[0]!.sent.filter((m) => (m as [unknown[]])[0][0] === 'chsk/ws-ping')).toHaveLength(1);
      expect(reasons).toEqual(['ws-ping-timeout', 'requested-disconnect']);
    });
  });
});

describe('wsConnectTimeoutMs (marbles)', () => {
  it('a WebSocket that never opens is given up exactly wsConnectTimeoutMs after it was made, then retried by the backoff', () => {
    newScheduler().run(({ flush }) => {
      const created: number[] = [];
      const t0 = asyncScheduler.now();
      const c = createChannelSocketClient('/chsk', null, {
        ...base,
        wsConnectTimeoutMs: 300,
        backoffMs: () => 50,
        WebSocket: fakeCtor(() => created.push(asyncScheduler.now() - t0 - 1)), // never opens
      });
      const errors: unknown[] = [];
      c.state$.subscribe(([, s]) => s.lastWsError !== undefined && errors.push(s.lastWsError));
      asyncScheduler.schedule(() => c.close(), 400);
      flush();
      expect(created).toEqual([0, 350]);
      expect(errors[0]).toEqual({ udt: t0 + 300, message: 'connect timeout' });
      expect(c.state.lastWsError).toEqual({ udt: t0 + 300, message: 'connect timeout' });
    });
  });
});
