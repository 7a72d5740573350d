/**
 * Issue 9, client items, in virtual time over a fake transport that plays the hostile server:
 * the reconnect storm (6), checked backoff values (7), stopping on 401/403 (8), lastAjaxError and
 * rate-limited warnings (12).
 */
import { fullJitterBackoff, MAX_TIMER_DELAY_MS, silentLogger } from '@sente-rx/core';
import { type ChannelSocketClient, type ClientOptions, createChannelSocketClient, type Transport, type TransportContext, type TransportEvent } from '@sente-rx/client';
import { ManualScheduler, recordingLogger } from '@sente-rx/fixtures';
import { mulberry32 as seeded } from '@sente-rx/fixtures/prng';
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';

/** How the fake server treats each connection, 1 virtual ms after it was made. */
type Script = (t: FakeTransport, n: number) => void;

interface FakeTransport extends Transport {
  readonly ctx: TransportContext;
  readonly emit: (ev: TransportEvent) => void;
}

const handshake: TransportEvent = { kind: 'message', message: { kind: 'handshake', uid: 'u', handshakeData: null, first: true } };

function hostile(scheduler: ManualScheduler, script: Script) {
  const made: { at: number; t: FakeTransport }[] = [];
  const factory = (ctx: TransportContext): Transport => {
    const events = new Subject<TransportEvent>();
    const t: FakeTransport = {
      ctx,
      type: ctx.type,
      keepAlive: false,
      events,
      emit: (ev) => events.next(ev),
      connect: () => {
        const n = made.push({ at: scheduler.now(), t }) - 1;
        scheduler.schedule(() => script(t, n), 1);
      },
      send: () => true,
      stop: () => undefined,
      simulateNetworkFailure: () => undefined,
    };
    return t;
  };
  return { made, factory };
}

/** The hostile servers of item 6. */
const closesAfterHandshake =
  (clean: boolean): Script =>
  (t) => {
    t.emit({ kind: 'open' });
    t.emit(handshake);
    t.emit({ kind: 'closed', code: clean ? 1000 : 1006, reason: '', clean });
  };
/** Answers the Ajax handshake, then 503s the first poll (what the Ajax transport reports). */
const ajax503: Script = (t) => {
  t.emit(handshake);
  t.emit({ kind: 'open' });
  t.emit({ kind: 'closed', code: 1011, reason: 'HTTP 503', clean: false, status: 503 });
};

const clients: ChannelSocketClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function start(scheduler: ManualScheduler, type: 'ws' | 'ajax', factory: ClientOptions['transport'], opts: ClientOptions = {}): ChannelSocketClient {
  const c = createChannelSocketClient('', null, { type, transport: factory, scheduler, storage: null, wsKeepAliveMs: 0, logger: silentLogger, ...opts });
  clients.push(c);
  return c;
}


const attemptsWithin = (made: { at: number }[], ms: number): number => made.filter((m) => m.at <= ms).length;

describe('reconnect storm (item 6): the backoff resets only once a connection proved stable', () => {
  const servers: [string, 'ws' | 'ajax', Script][] = [
    ['ws, closes cleanly after the handshake', 'ws', closesAfterHandshake(true)],
    ['ws, drops after the handshake', 'ws', closesAfterHandshake(false)],
    ['ajax, handshake then 503 on every poll', 'ajax', ajax503],
  ];

  it.each(servers)('%s: 5 attempts in 8 s with the default backoff at its median (0, 0, 1 s, 2 s, 4 s)', (_, type, script) => {
    const scheduler = new ManualScheduler();
    const { made, factory } = hostile(scheduler, script);
    start(scheduler, type, factory, { backoffMs: fullJitterBackoff({ random: () => 0.5 }) });
    scheduler.advance(8_000);
    expect(made.map((m) => m.at)).toEqual([0, 1, 1_002, 3_003, 7_004]);
  });

  it.each(servers)('%s: 100 clients with random jitter make about 6 attempts in 8 s each, on average at most 6', (_, type, script) => {
    let total = 0;
    for (let i = 0; i < 100; i++) {
      const scheduler = new ManualScheduler();
      const { made, factory } = hostile(scheduler, script);
      const c = start(scheduler, type, factory, { backoffMs: fullJitterBackoff({ random: seeded(i + 1) }) });
      scheduler.advance(8_000);
      c.close();
      total += attemptsWithin(made, 8_000);
    }
    expect(total / 100).toBeLessThanOrEqual(6);
  });

  it('a connection open for stableMs resets the backoff: the next retry is at once again', () => {
    const scheduler = new ManualScheduler();
    // Three short-lived connections, then one that lives 6 s, then short-lived again.
    const { made, factory } = hostile(scheduler, (t, n) => {
      t.emit({ kind: 'open' });
      t.emit(handshake);
      if (n === 3) scheduler.schedule(() => t.emit({ kind: 'closed', code: 1006, reason: '', clean: false }), 6_000);
      else t.emit({ kind: 'closed', code: 1006, reason: '', clean: false });
    });
    start(scheduler, 'ws', factory, { backoffMs: fullJitterBackoff({ random: () => 0.5 }) });
    scheduler.advance(20_000);
    // 0, 1 (attempt 1), 1002 (2), 3003 (3); then open 6 s from 3004: closed at 9004, retry at once.
    expect(made.map((m) => m.at).slice(0, 6)).toEqual([0, 1, 1_002, 3_003, 9_004, 10_005]);
  });

  it('stableMs is an option', () => {
    const scheduler = new ManualScheduler();
    const { made, factory } = hostile(scheduler, (t) => {
      t.emit({ kind: 'open' });
      t.emit(handshake);
      scheduler.schedule(() => t.emit({ kind: 'closed', code: 1006, reason: '', clean: false }), 100);
    });
    start(scheduler, 'ws', factory, { backoffMs: fullJitterBackoff({ random: () => 0.5 }), stableMs: 50 });
    scheduler.advance(1_000);
    expect(made.length).toBeGreaterThan(8); // each lived 100 ms > 50 ms: every retry is attempt 1, at once
    expect(() => createChannelSocketClient('', null, { transport: factory, stableMs: -1 })).toThrow(TypeError);
  });
});

describe('backoffMs results are checked (item 7)', () => {
  const dropsOnce: Script = (t, n) => {
    t.emit({ kind: 'open' });
    t.emit(handshake);
    if (n === 0) t.emit({ kind: 'closed', code: 1006, reason: '', clean: false });
  };

  it('Infinity: no reconnect until reconnect(), logged', () => {
    const scheduler = new ManualScheduler();
    const { made, factory } = hostile(scheduler, dropsOnce);
    const logger = recordingLogger();
    const c = start(scheduler, 'ws', factory, { backoffMs: () => Infinity, logger });
    scheduler.advance(1_000_000);
    expect(made).toHaveLength(1);
    expect(c.state.open).toBe(false);
    expect(c.state.udtNextReconnect).toBeUndefined();
    expect(logger.entries.some((e) => e.level === 'warn' && /Infinity/.test(e.msg))).toBe(true);
    c.reconnect();
    scheduler.advance(10);
    expect(made).toHaveLength(2);
    expect(c.state.open).toBe(true);
  });

  it('over 2^31 - 1 ms: waits 2^31 - 1 ms (Node would fire such a timer after 1 ms)', () => {
    const scheduler = new ManualScheduler();
    const { made, factory } = hostile(scheduler, dropsOnce);
    const c = start(scheduler, 'ws', factory, { backoffMs: () => 2 ** 40 });
    scheduler.advance(10);
    expect(c.state.udtNextReconnect).toBe(1 + MAX_TIMER_DELAY_MS);
    scheduler.advance(1_000_000);
    expect(made).toHaveLength(1);
  });

  it.each([NaN, -5, -Infinity])('%s: an error is logged and the default backoff is used', (bad) => {
    const scheduler = new ManualScheduler();
    const { made, factory } = hostile(scheduler, dropsOnce);
    const logger = recordingLogger();
    start(scheduler, 'ws', factory, { backoffMs: () => bad, logger });
    scheduler.advance(10);
    expect(made).toHaveLength(2); // the default's first retry: at once
    expect(logger.entries.filter((e) => e.level === 'error' && /backoffMs/.test(e.msg))).toHaveLength(1);
  });
});

describe('401 and 403 stop the client until reconnect() (item 8)', () => {
  it.each([
    ['ws', 401],
    ['ws', 403],
    ['ajax', 401],
    ['ajax', 403],
  ] as const)('%s refused with %i: lastClose unauthorized, no retry; reconnect() tries again with a re-read token', (type, status) => {
    const scheduler = new ManualScheduler();
    let refuse = true;
    const { made, factory } = hostile(scheduler, (t) => {
      if (refuse) {
        t.emit({ kind: 'error', message: `Unexpected server response: ${status}` });
        t.emit({ kind: 'closed', code: type === 'ws' ? 1006 : 1008, reason: `HTTP ${status}`, clean: false, status });
        return;
      }
      t.emit({ kind: 'open' });
      t.emit(handshake);
    });
    let token = 'old';
    const c = createChannelSocketClient('', () => token, { type, transport: factory, scheduler, storage: null, wsKeepAliveMs: 0, logger: silentLogger });
    clients.push(c);
    scheduler.advance(60_000);
    expect(made).toHaveLength(1);
    expect(c.state.lastClose).toEqual({ udt: 1, reason: 'unauthorized', status });
    expect(c.state.udtNextReconnect).toBeUndefined();
    expect(made[0]!.t.ctx.csrfToken()).toBe('old');

    token = 'fresh';
    refuse = false;
    c.reconnect();
    scheduler.advance(10);
    expect(made).toHaveLength(2);
    expect(made[1]!.t.ctx.csrfToken()).toBe('fresh');
    expect(c.state.open).toBe(true);
  });

  it('a channel that was open and is then refused (a server restart forgot the session) stops too', () => {
    const scheduler = new ManualScheduler();
    const { made, factory } = hostile(scheduler, (t, n) => {
      if (n === 0) {
        t.emit(handshake);
        scheduler.schedule(() => t.emit({ kind: 'closed', code: 1006, reason: 'fetch failed', clean: false }), 100);
      } else t.emit({ kind: 'closed', code: 1008, reason: 'HTTP 403', clean: false, status: 403 });
    });
    const c = start(scheduler, 'ajax', factory);
    const reasons: (string | undefined)[] = [];
    c.state$.subscribe(([, s]) => reasons.push(s.lastClose?.reason));
    scheduler.advance(60_000);
    expect(made).toHaveLength(2);
    expect(c.state.lastClose).toEqual({ udt: 102, reason: 'unauthorized', status: 403 });
    expect(reasons).toContain('unexpected');
  });

  it.each([400, 404, 500, 503])('other HTTP errors (%i) keep the backoff', (status) => {
    const scheduler = new ManualScheduler();
    const { made, factory } = hostile(scheduler, (t) => t.emit({ kind: 'closed', code: status >= 500 ? 1011 : 1008, reason: `HTTP ${status}`, clean: false, status }));
    const c = start(scheduler, 'ajax', factory, { backoffMs: () => 1_000 });
    scheduler.advance(3_500);
    expect(made.length).toBe(4);
    expect(c.state.lastClose).toBeUndefined();
  });
});

describe('lastAjaxError and rate-limited warnings (item 12)', () => {
  it('keeps the last failed Ajax response (status and udt); a network failure has status 0', () => {
    const scheduler = new ManualScheduler();
    const { factory } = hostile(scheduler, (t, n) => t.emit({ kind: 'closed', code: 1008, reason: 'x', clean: false, ...(n === 0 ? { status: 404 } : {}) }));
    const c = start(scheduler, 'ajax', factory, { backoffMs: () => 1_000 });
    scheduler.advance(10);
    expect(c.state.lastAjaxError).toEqual({ udt: 1, status: 404 });
    scheduler.advance(1_000);
    expect(c.state.lastAjaxError).toEqual({ udt: 1_002, status: 0 });
  });

  it('a failure on every attempt (a wrong path: 404 retried) is warned about once a minute, with the count left out', () => {
    const scheduler = new ManualScheduler();
    const { made, factory } = hostile(scheduler, (t) => t.emit({ kind: 'closed', code: 1008, reason: 'HTTP 404', clean: false, status: 404 }));
    const logger = recordingLogger();
    start(scheduler, 'ajax', factory, { backoffMs: () => 1_000, logger });
    scheduler.advance(59_000);
    const warned = () => logger.entries.filter((e) => e.level === 'warn' && /could not connect over Ajax \(HTTP 404\)/.test(e.msg));
    expect(made.length).toBeGreaterThan(50);
    expect(warned()).toHaveLength(1);
    scheduler.advance(3_000);
    expect(warned()).toHaveLength(2);
    expect(warned()[1]!.data).toMatchObject({ status: 404, repeats: expect.any(Number) });
  });
});
