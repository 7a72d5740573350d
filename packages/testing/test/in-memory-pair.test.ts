/**
 * inMemoryPair: the real client and server over the in-memory network, in virtual time. The first
 * test is issue 8's proof that every timer of both cores runs on the injected scheduler: connect,
 * keep-alive ping, ping timeout, reconnect with backoff, grace expiry and long-poll timeout, with
 * fake timers installed and no real timer ever asked for.
 */
import { defineEvents, silentLogger, type CloseReason } from '@sente-rx/core';
import { startServerChskRouter } from '@sente-rx/server';
import { inMemoryPair } from '@sente-rx/testing';
import { defer, VirtualTimeScheduler } from 'rxjs';
import { z } from 'zod';
import { TestScheduler } from 'rxjs/testing';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** Real timers: any call means some code bypassed the scheduler. */
let timerSpies: MockInstance[] = [];
beforeEach(() => {
  vi.useFakeTimers();
  timerSpies = (['setTimeout', 'setInterval', 'setImmediate'] as const).map((name) => vi.spyOn(globalThis, name));
});
afterEach(() => {
  for (const s of timerSpies) s.mockRestore();
  vi.useRealTimers();
});
const realTimersUsed = (): number => timerSpies.reduce((n, s) => n + s.mock.calls.length, 0) + vi.getTimerCount();

describe('inMemoryPair (virtual time, no real timer)', () => {
  it('connect, keep-alive ping, ping timeout, reconnect with backoff, grace expiry and long-poll timeout', () => {
    const ts = newScheduler();
    ts.run(({ flush }) => {
      const pair = inMemoryPair({
        scheduler: ts,
        uid: 'alice',
        latencyMs: 1,
        server: { logger: silentLogger, reconnectGraceMs: { ws: 300, ajax: 300 }, lpTimeoutMs: 1_000, wsKeepAliveMs: 0 },
        client: { type: 'ws', logger: silentLogger, wsKeepAliveMs: 1_000, wsPingTimeoutMs: 200, backoffMs: (n) => n * 250 },
      });
      const bob = pair.addClient({ uid: 'bob', client: { type: 'ajax', logger: silentLogger, backoffMs: (n) => n * 250 } });
      const server: string[] = [];
      pair.server.recv$.subscribe((m) => server.push(`${ts.now()} ${m.id}${typeof m.data === 'string' ? ` ${m.data}` : ''}`));
      const alice: string[] = [];
      pair.client.state$.subscribe(([old, s]) => {
        if (s.opened) alice.push(`${ts.now()} open`);
        if (s.closed) alice.push(`${ts.now()} closed ${s.lastClose?.reason ?? '?'}`);
        if (s.udtNextReconnect !== undefined && s.udtNextReconnect !== old.udtNextReconnect) alice.push(`${ts.now()} retry at ${s.udtNextReconnect}`);
      });

      ts.schedule(() => pair.client.breakConnection({ silent: true }), 600); // the path dies quietly
      ts.schedule(() => pair.network.down(), 2_000);
      ts.schedule(() => pair.network.up(), 2_600);
      ts.schedule(() => void pair.close(), 4_000);
      flush();

      const reasons: CloseReason[] = ['ws-ping-timeout', 'unexpected'];
      expect(alice).toEqual([
        '2 open', // connect: the attempt reaches the server at 1, the handshake arrives at 2
        // keep-alive: a ping at 502 (500 ms silent) is answered at 504; the next check at 1002 sees
        // 498 ms of silence; the ping at 1502 gets no pong: ping timeout at 1702, and the reconnect
        // goes through the backoff (attempt 1: 250 ms)
        `1702 closed ${reasons[0]}`,
        '1702 retry at 1952',
        '1954 open',
        // the network goes down at 2000. The connection of 1954 never proved stable (stableMs), so the
        // backoff goes on: attempt 2 (500 ms, refused at 2501), then attempt 3 (750 ms)
        `2000 closed ${reasons[1]}`,
        '2000 retry at 2500',
        '2501 retry at 3251',
        '3253 open',
        '4000 closed requested-disconnect',
      ]);
      expect(server).toEqual([
        // uidport events come with the broker's coalesced presence emissions: at once after a quiet
        // presence window (50 ms), else at the end of the window.
        '1 chsk/uidport-open alice',
        '51 chsk/uidport-open bob', // Ajax: his first poll (after the handshake GET, at 3) makes him present
        '503 chsk/ws-ping', // alice's keep-alive ping reached the server; the one at 1502 died on the silent path
        // alice reconnected at 1953, so her uid never looked gone. The network dropped both at 2000
        // (bob's held poll was abandoned, seen at 2001); the 300 ms grace expired before they came back.
        '2300 chsk/uidport-close alice',
        '2350 chsk/uidport-close bob', // gone at 2301, inside alice's window
        '2754 chsk/uidport-open bob', // his retry at 2751: handshake GET, then the poll
        '3252 chsk/uidport-open alice', // her retry at 3251
        '3754 chsk/ws-ping', // keep-alive again, 500 ms after alice's handshake at 3253
      ]);
      // Bob long-polls: handshake at 2, polls held lpTimeoutMs (1 s) and answered chsk/timeout,
      // re-polled at once, until the network went down.
      const bobs = pair.network.received.filter((r) => r.clientId === bob.clientId && r.at < 2_000).map((r) => `${r.at} ${r.kind}`);
      expect(bobs).toEqual(['2 handshake', '1004 lp-timeout']);
      expect(bob.state.open).toBe(false); // closed by pair.close()
    });
    expect(realTimersUsed()).toBe(0);
  });
});

describe('inMemoryPair: the server side of keep-alive', () => {
  it("a client whose path died is pinged, terminated after wsPingTimeoutMs, and its uid closes after the grace", () => {
    const ts = newScheduler();
    ts.run(({ flush }) => {
      const pair = inMemoryPair({
        scheduler: ts,
        uid: 'dan',
        server: { logger: silentLogger, wsKeepAliveMs: 1_000, wsPingTimeoutMs: 400, reconnectGraceMs: { ws: 300 } },
        client: { type: 'ws', logger: silentLogger, wsKeepAliveMs: 0 },
      });
      const server: string[] = [];
      pair.server.recv$.subscribe((m) => server.push(`${ts.now()} ${m.id}`));
      ts.schedule(() => pair.client.breakConnection({ silent: true }), 100);
      let openBeforeClose: boolean | undefined;
      ts.schedule(() => (openBeforeClose = pair.client.state.open), 4_999);
      ts.schedule(() => void pair.close(), 5_000);
      flush();
      const pings = pair.network.received.filter((r) => r.kind === 'ping');
      expect(pings).toEqual([]); // the server's ping never got through the dead path
      // Silent since it opened at 1. The server sweeps every 100 ms (min(1000/2, 400)/4): at 600 the
      // socket has been quiet 500 ms (wsKeepAliveMs/2), so it is pinged; no answer by 1000
      // (wsPingTimeoutMs): terminated; the uid closes when the 300 ms grace runs out.
      expect(server).toEqual(['1 chsk/uidport-open', '1300 chsk/uidport-close']);
      expect(openBeforeClose).toBe(true); // the client, pinging nothing, does not know
    });
    expect(realTimersUsed()).toBe(0);
  });
});

describe('inMemoryPair on a VirtualTimeScheduler', () => {
  it('connects and closes in virtual time, with no real timer', () => {
    const vts = new VirtualTimeScheduler();
    const pair = inMemoryPair({ scheduler: vts, uid: 'carol', server: { logger: silentLogger }, client: { type: 'auto', logger: silentLogger } });
    const opens: string[] = [];
    pair.client.state$.subscribe(([, s]) => s.opened && opens.push(`${vts.now()} ${s.type}`));
    vts.schedule(() => void pair.close(), 60_000);
    vts.flush();
    expect(opens).toEqual(['2 ws']); // auto: WebSocket first, and it works
    expect(pair.client.state.lastClose?.reason).toBe('requested-disconnect');
    expect(realTimersUsed()).toBe(0);
  });
});

const chat = defineEvents({
  client: { 'chat/post': { data: z.object({ text: z.string() }), reply: z.object({ id: z.number() }) } },
  server: { 'chat/msg': { data: z.object({ id: z.number(), text: z.string() }) } },
});

describe.each(['ws', 'ajax'] as const)('inMemoryPair over %s', (type) => {
  it('a typed request is answered by the server router, and a push reaches the client validated', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable, flush }) => {
      const pair = inMemoryPair({ scheduler: ts, uid: 'alice', events: chat, server: { logger: silentLogger, lpTimeoutMs: 1_000 }, client: { type, logger: silentLogger } });
      let seq = 0;
      startServerChskRouter(pair.server.recv$, {
        'chat/post': (msg) => {
          // This server takes no contract (yet): its data is unknown.
          const text = typeof msg.data === 'object' && msg.data !== null && 'text' in msg.data ? String(msg.data.text) : '?';
          pair.server.send(msg.uid, ['chat/msg', { id: ++seq, text }]);
          pair.server.send(msg.uid, ['chat/msg', { id: 'not a number', text: 'dropped by the client' }]);
          return { id: seq };
        },
      });
      const texts: string[] = [];
      pair.client.recv$.subscribe((m) => {
        if (m.id === 'chat/msg') texts.push(`${ts.now()} ${m.data.id}:${m.data.text}`);
      });
      const reply = defer(() => pair.client.send(['chat/post', { text: 'hi' }], { timeoutMs: 500 }));
      ts.schedule(() => expect(pair.client.state.open).toBe(true), 10);
      expectObservable(reply, '10ms ^').toBe('12ms (r|)', { r: { id: 1 } }); // sent at 10, handled at 11, back at 12
      ts.schedule(() => void pair.close(), 2_000);
      flush();
      expect(texts).toHaveLength(1);
      expect(texts[0]).toMatch(/^\d+ 1:hi$/);
    });
  });

  it('a wrong CSRF token is refused by the server pipeline and the client never opens', () => {
    const ts = newScheduler();
    ts.run(({ flush }) => {
      const pair = inMemoryPair({
        scheduler: ts,
        csrfToken: 'wrong',
        server: { logger: silentLogger, csrfToken: () => 'right' },
        client: { type, logger: silentLogger, backoffMs: () => 1_000 },
      });
      const opened: boolean[] = [];
      pair.client.state$.subscribe(([, s]) => s.opened && opened.push(true));
      ts.schedule(() => void pair.close(), 3_500);
      flush();
      expect(opened).toEqual([]);
      // Ajax: each refusal arrives as HTTP 403, then 1 s of backoff and 2 ms there and back.
      if (type === 'ajax') expect(pair.network.received.map((r) => `${r.at} ${r.kind}`)).toEqual(['2 HTTP 403', '1004 HTTP 403', '2006 HTTP 403', '3008 HTTP 403']);
      else expect(pair.network.received).toEqual([]); // a refused upgrade: no message ever arrives
    });
  });
});
