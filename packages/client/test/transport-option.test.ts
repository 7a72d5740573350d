/**
 * The `transport` option: a custom transport plugs in through the exported Transport interface,
 * with no WebSocket, fetch or host, and everything above it (state map, requests, reconnects)
 * works from its one event stream. Virtual time throughout.
 */
import { type ChskEvent, silentLogger } from '@sente-rx/core';
import { createChannelSocketClient, type Transport, type TransportContext, type TransportEvent } from '@sente-rx/client';
import { Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';

interface Fake extends Transport {
  readonly ctx: TransportContext;
  readonly sent: [ChskEvent, string | null][];
  readonly emit: (ev: TransportEvent) => void;
  stopped: boolean;
}

function fakeFactory(made: Fake[], type: 'ws' | 'ajax' = 'ajax') {
  return (ctx: TransportContext): Transport => {
    const events = new Subject<TransportEvent>();
    const t: Fake = {
      ctx,
      type,
      keepAlive: false,
      events,
      sent: [],
      stopped: false,
      emit: (ev) => events.next(ev),
      connect: () => undefined,
      send: (event, cbId) => (t.sent.push([event, cbId]), !t.stopped),
      stop: () => void (t.stopped = true),
      simulateNetworkFailure: () => t.emit({ kind: 'closed', code: 3000, reason: 'broken', clean: false }),
    };
    made.push(t);
    return t;
  };
}

const handshake = (uid = 'u'): TransportEvent => ({ kind: 'message', message: { kind: 'handshake', uid, handshakeData: { hi: 1 }, first: true } });

describe('the transport option', () => {
  it('runs the client over a custom transport: handshake, request/reply, push, close and reconnect by the backoff', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ expectObservable, flush }) => {
      const made: Fake[] = [];
      const c = createChannelSocketClient('', () => 'tok', { type: 'ajax', transport: fakeFactory(made), scheduler, backoffMs: () => 100, logger: silentLogger, storage: null });
      expect(made).toHaveLength(1);
      expect(made[0]!.ctx).toMatchObject({ type: 'ajax', clientId: c.clientId, scheduler });
      expect(made[0]!.ctx.isOpen()).toBe(false);
      expect(made[0]!.ctx.csrfToken()).toBe('tok');
      const ids: string[] = [];
      c.recv$.subscribe((m) => ids.push(m.id));
      made[0]!.emit(handshake());
      expect(c.state).toMatchObject({ open: true, type: 'ajax', uid: 'u', handshakeData: { hi: 1 } });
      expect(made[0]!.ctx.isOpen()).toBe(true);

      const reply = c.send(['t/req', 1], { timeoutMs: 1_000 });
      const [ev, cbId] = made[0]!.sent[0]!;
      expect(ev).toEqual(['t/req', 1]);
      scheduler.schedule(() => made[0]!.emit({ kind: 'reply', cbId: cbId!, value: 'ok' }), 10);
      expectObservable(reply).toBe('10ms (r|)', { r: 'ok' });
      made[0]!.emit({ kind: 'message', message: { kind: 'batch', events: [['t/push', 2]] } });
      expect(ids).toContain('t/push');

      scheduler.schedule(() => made[0]!.emit({ kind: 'closed', code: 1006, reason: 'gone', clean: false }), 50);
      scheduler.schedule(() => {
        expect(c.state).toMatchObject({ open: false, lastClose: { udt: 50, reason: 'unexpected' }, udtNextReconnect: 150 });
        expect(c.state.lastWsClose).toBeUndefined(); // only a WebSocket close is recorded there
      }, 51);
      scheduler.schedule(() => made[1]!.emit(handshake()), 200);
      scheduler.schedule(() => c.close(), 500);
      flush();
      expect(made).toHaveLength(2); // reconnected at 150
      expect(c.state.lastClose?.reason).toBe('requested-disconnect');
      expect(made[1]!.stopped).toBe(true);
    });
  });

  it('ctx.reply settles a request as a reply event does; what an earlier connection hands over is ignored', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ flush }) => {
      const made: Fake[] = [];
      const c = createChannelSocketClient('', 'tok', { type: 'ajax', transport: fakeFactory(made), scheduler, backoffMs: () => 100, logger: silentLogger, storage: null });
      made[0]!.emit(handshake());
      const got: unknown[] = [];
      const record = (tag: string) => ({ next: (v: unknown) => got.push([tag, v]), error: (e: { code?: string }) => got.push([tag, e.code]) });
      c.send(['t/req', 1], { timeoutMs: 1_000 }).subscribe(record('r1'));
      made[0]!.ctx.reply!(made[0]!.sent[0]![1]!, 'a');
      expect(got).toEqual([['r1', 'a']]);
      expect(c.pendingRequests).toBe(0);

      made[0]!.emit({ kind: 'closed', code: 1006, reason: 'gone', clean: false });
      scheduler.schedule(() => {
        made[1]!.emit(handshake());
        c.send(['t/req', 3], { timeoutMs: 1_000 }).subscribe(record('r3'));
        const cbId = made[1]!.sent[0]![1]!;
        made[0]!.ctx.reply!(cbId, 'stale'); // the dropped connection's hand-over counts for nothing
        expect(got).toEqual([['r1', 'a']]);
        expect(c.pendingRequests).toBe(1);
        made[1]!.ctx.reply!(cbId, 'fresh');
      }, 200);
      flush();
      expect(got).toEqual([['r1', 'a'], ['r3', 'fresh']]);
      expect(c.pendingRequests).toBe(0);
      c.close();
    });
  });

  it('ctx.receive takes a server message as a message event does; what an earlier connection hands over is ignored', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ flush }) => {
      const made: Fake[] = [];
      const c = createChannelSocketClient('', 'tok', { type: 'ajax', transport: fakeFactory(made), scheduler, backoffMs: () => 100, logger: silentLogger, storage: null });
      const pushes: unknown[] = [];
      c.recv$.subscribe((m) => m.id.startsWith('t/') && pushes.push(m.event));
      made[0]!.ctx.receive!({ kind: 'handshake', uid: 'u', handshakeData: null, first: true });
      expect(c.state).toMatchObject({ open: true, uid: 'u' });
      made[0]!.ctx.receive!({ kind: 'batch', events: [['t/a', 1]] });
      expect(pushes).toEqual([['t/a', 1]]);

      made[0]!.emit({ kind: 'closed', code: 1006, reason: 'gone', clean: false });
      made[0]!.ctx.receive!({ kind: 'batch', events: [['t/stale', 2]] }); // the dropped connection: nothing
      scheduler.schedule(() => {
        made[0]!.ctx.receive!({ kind: 'handshake', uid: 'old', handshakeData: null, first: false });
        expect(c.state.open).toBe(false);
        made[1]!.ctx.receive!({ kind: 'handshake', uid: 'u', handshakeData: null, first: false });
        made[0]!.ctx.receive!({ kind: 'batch', events: [['t/stale', 3]] });
        made[1]!.ctx.receive!({ kind: 'batch', events: [['t/b', 4]] });
      }, 200);
      flush();
      expect(pushes).toEqual([['t/a', 1], ['t/b', 4]]);
      expect(c.state).toMatchObject({ open: true, uid: 'u' });
      c.close();
    });
  });

  it('breakConnection() calls the transport hook; a WebSocket-type close is recorded as lastWsClose, errors as lastWsError', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ flush }) => {
      const made: Fake[] = [];
      const c = createChannelSocketClient('', null, { type: 'ws', transport: fakeFactory(made, 'ws'), scheduler, backoffMs: () => 0, storage: null, wsKeepAliveMs: 0 });
      made[0]!.emit(handshake());
      made[0]!.emit({ kind: 'error', message: 'boom' });
      expect(c.state.lastWsError).toEqual({ udt: 0, message: 'boom' });
      c.breakConnection();
      expect(c.state.lastWsClose).toEqual({ udt: 0, code: 3000, reason: 'broken', clean: false });
      expect(made).toHaveLength(2); // backoff 0: at once
      c.close();
      flush();
    });
  });

  it('a send the transport cannot carry fails chsk/error and reconnects; one that does not pack fails without reconnecting', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(() => {
      const made: Fake[] = [];
      const c = createChannelSocketClient('', null, { type: 'ws', transport: fakeFactory(made, 'ws'), scheduler, storage: null, wsKeepAliveMs: 0 });
      made[0]!.emit(handshake());
      const unpackable = made[0]!;
      const send = unpackable.send;
      unpackable.send = () => {
        throw new Error('cannot pack');
      };
      const errs: unknown[] = [];
      c.send(['t/x', 1]).subscribe({ error: (e: unknown) => errs.push(e) });
      expect(errs).toMatchObject([{ code: 'chsk/error' }]);
      expect(made).toHaveLength(1);
      unpackable.send = send;
      unpackable.stopped = true; // send now returns false: the connection cannot carry it
      c.send(['t/x', 2], { timeoutMs: 100 }).subscribe({ error: (e: unknown) => errs.push(e) });
      expect(errs).toMatchObject([{ code: 'chsk/error' }, { code: 'chsk/error' }]);
      expect(c.state.lastClose?.reason).toBe('ws-error');
      expect(made).toHaveLength(2);
      c.close();
    });
  });
});
