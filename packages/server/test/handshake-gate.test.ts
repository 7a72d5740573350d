/**
 * The handshake gate (broker.ts `interest`): with a broker whose interest in a uid takes time (a
 * cluster broker's SUBSCRIBE), the server sends or answers the handshake only once it is live;
 * events sent meanwhile wait and follow the handshake; a server closing meanwhile ends the
 * waiting socket (1001) and request (503) at once; interest is dropped when the uid has no
 * connection left. Here the broker is the in-memory one with an `interest` the test resolves.
 */
import type { Uid } from '@sente-rx/core';
import { inMemoryBroker, type Broker } from '@sente-rx/server';
import { describe, expect, it } from 'vitest';
import { chskPath, freshClientId, httpRequest, pushedEvents, useFixtures } from '@sente-rx/fixtures';

/** The in-memory broker, with an interest() whose waits the test releases. */
function slowInterest(): { broker: Broker; calls: [Uid, boolean][]; release(): void; asked(): Promise<void> } {
  const inner = inMemoryBroker();
  const calls: [Uid, boolean][] = [];
  let releases: (() => void)[] = [];
  let onAsk: (() => void) | undefined;
  const broker: Broker = {
    connect: (n) => inner.connect(n),
    publish: (t, e, f) => inner.publish(t, e, f),
    request: (r) => inner.request(r),
    reply: (r) => inner.reply(r),
    localPresence: (uid, on) => inner.localPresence(uid, on),
    connectedUids$: inner.connectedUids$,
    close: () => inner.close(),
    interest(uid, on) {
      calls.push([uid, on]);
      if (!on) return undefined;
      onAsk?.();
      return new Promise<void>((r) => releases.push(r));
    },
  };
  return {
    broker,
    calls,
    release() {
      for (const r of releases) r();
      releases = [];
    },
    asked: () => new Promise<void>((r) => (onAsk = r)),
  };
}

describe('the handshake waits for the broker\'s interest in the uid', () => {
  const fx = useFixtures();

  it('WebSocket: no handshake before interest is live; a send meanwhile follows the handshake', async () => {
    const gate = slowInterest();
    const srv = await fx.startServer({ broker: gate.broker, sendBufMs: { ws: 0 } });
    const asked = gate.asked();
    const raw = fx.rawWs(srv.port, { uid: 'gated' });
    await asked;
    expect(gate.calls).toEqual([['gated', true]]);
    srv.chsk.send('gated', ['test/early', 1]); // issued while the handshake is held
    await raw.opened;
    expect(raw.received).toEqual([]); // nothing on the socket yet: not even the handshake
    gate.release();
    const [uid] = await raw.handshake();
    expect(uid).toBe('gated');
    await raw.next(() => pushedEvents(raw).length > 0);
    expect(pushedEvents(raw)).toEqual([['test/early', 1]]);
  });

  it('Ajax: the handshake request is answered once interest is live', async () => {
    const gate = slowInterest();
    const srv = await fx.startServer({ broker: gate.broker });
    const asked = gate.asked();
    let answered = false;
    const hs = httpRequest(srv.port, { path: chskPath({ 'client-id': freshClientId('ajax'), uid: 'gated-ajax', 'handshake?': 'true' }) }).then((r) => {
      answered = true;
      return r;
    });
    await asked;
    // A full round trip on another connection (a POST is answered at once) after the server took
    // the handshake request: an ungated answer, written before, would be here by now.
    const post = await httpRequest(srv.port, { method: 'POST', path: chskPath({ 'client-id': freshClientId('ajax'), uid: 'other' }), body: JSON.stringify([['test/x', 1]]) });
    expect(post.status).toBe(200);
    expect(answered).toBe(false);
    gate.release();
    const r = await hs;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual([['chsk/handshake', ['gated-ajax', null, null, true]], null]);
  });

  it('a server closing meanwhile ends the waiting socket with 1001 and the waiting request with 503', async () => {
    const gate = slowInterest();
    const srv = await fx.startServer({ broker: gate.broker });
    let asked = gate.asked();
    const raw = fx.rawWs(srv.port, { uid: 'closing' });
    await asked;
    asked = gate.asked();
    const hs = httpRequest(srv.port, { path: chskPath({ 'client-id': freshClientId('ajax'), uid: 'closing-ajax', 'handshake?': 'true' }) });
    await asked;
    const stopped = srv.stop();
    expect((await raw.closed).code).toBe(1001);
    gate.release(); // the late acknowledgement answers the request: the server is closing
    expect((await hs).status).toBe(503);
    await stopped;
  });

  it('interest is dropped once the uid has no connection left', async () => {
    const gate = slowInterest();
    const srv = await fx.startServer({ broker: gate.broker, reconnectGraceMs: { ws: 0, ajax: 0 } });
    const asked = gate.asked();
    const raw = fx.rawWs(srv.port, { uid: 'leaves' });
    await asked;
    gate.release();
    await raw.handshake();
    await raw.close();
    await srv.next('chsk/uidport-close', (m) => m.uid === 'leaves');
    expect(gate.calls).toEqual([
      ['leaves', true],
      ['leaves', false],
    ]);
  });
});
