/**
 * The client's side of recovery against a scripted WebSocket: it announces `pos`, adopts the
 * handshake's position, presents what it received on the next connect, drops overlapping
 * entries, and exposes `recovered` in its state and its `chsk/handshake` event.
 */
import { describe, expect, it } from 'vitest';
import { type ChskEvent, type EventPosition, handshakeEnvelope, type HandshakeRecovery, positionMarker, silentLogger } from '@sente-rx/core';
import { createChannelSocketClient, type ClientEventMsg, type WebSocketLike } from '@sente-rx/client';
import { createRecoveryTracker } from '../src/recovery.js';

class ScriptedWs implements WebSocketLike {
  static all: ScriptedWs[] = [];
  readyState = 0;
  binaryType = 'blob';
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onerror: WebSocketLike['onerror'] = null;
  onclose: WebSocketLike['onclose'] = null;
  constructor(readonly url: string) {
    ScriptedWs.all.push(this);
  }
  get pos(): string | null {
    return new URL(this.url).searchParams.get('pos');
  }
  send(): void {}
  close(): void {
    this.readyState = 3;
  }
  open(uid: string, recovery?: HandshakeRecovery): void {
    this.readyState = 1;
    this.onopen?.({});
    this.deliver(handshakeEnvelope(uid, null, recovery === undefined, recovery));
  }
  deliver(value: unknown): void {
    this.onmessage?.({ data: JSON.stringify(value) });
  }
  batch(epoch: string, entries: readonly (readonly [ChskEvent, EventPosition])[]): void {
    this.deliver([[positionMarker(epoch, entries.map((e) => e[1])), ...entries.map((e) => e[0])], null]);
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '', wasClean: false });
  }
}

const u = (seq: number): EventPosition => ({ stream: 'u', seq });
const g = (seq: number): EventPosition => ({ stream: 'g', seq });

function setup() {
  ScriptedWs.all = [];
  const c = createChannelSocketClient('/chsk', null, {
    type: 'ws',
    host: 'h',
    WebSocket: ScriptedWs,
    backoffMs: () => 0,
    wsKeepAliveMs: 0,
    storage: null,
    logger: silentLogger,
  });
  const got: ClientEventMsg[] = [];
  c.recv$.subscribe((m) => got.push(m));
  const ws = (i: number): ScriptedWs => {
    const s = ScriptedWs.all[i];
    if (s === undefined) throw new Error(`no socket ${i}`);
    return s;
  };
  return { c, got, ws, pushes: () => got.filter((m) => m.id.startsWith('app/')).map((m) => m.event), handshakes: () => got.filter((m) => m.id === 'chsk/handshake').map((m) => m.data) };
}

describe('client recovery', () => {
  it('announces support with pos= on a first connect and presents its position on the next', () => {
    const { c, ws, pushes, handshakes } = setup();
    expect(ws(0).pos).toBe('');
    ws(0).open('alice', { position: { epoch: 'E', u: 10, g: 3 } });
    expect('recovered' in c.state).toBe(false);
    expect(handshakes()).toEqual([['alice', null, true]]);
    ws(0).batch('E', [
      [['app/a', 1], u(11)],
      [['app/b', 2], g(4)],
      [['app/a', 3], u(13)], // 12 went to another client of alice
    ]);
    expect(pushes()).toEqual([['app/a', 1], ['app/b', 2], ['app/a', 3]]);
    ws(0).drop();
    expect(ws(1).pos).toBe('E.13.4');
    c.close();
  });

  it('drops entries at or below its position (a replay overlapping live pushes), keeps unlogged ones', () => {
    const { c, ws, pushes } = setup();
    ws(0).open('alice', { position: { epoch: 'E', u: 0, g: 0 } });
    ws(0).batch('E', [
      [['app/1'], u(1)],
      [['app/2'], u(2)],
    ]);
    ws(0).batch('E', [
      [['app/2'], u(2)],
      [['app/req'], u(0)],
      [['app/3'], u(3)],
      [['app/g1'], g(1)],
      [['app/g1'], g(1)],
    ]);
    expect(pushes()).toEqual([['app/1'], ['app/2'], ['app/req'], ['app/3'], ['app/g1']]);
    c.close();
  });

  it('recovered true / false from the handshake: in the state and as the 4th element of chsk/handshake', () => {
    const { c, ws, handshakes } = setup();
    ws(0).open('alice', { position: { epoch: 'E', u: 5, g: 0 } });
    ws(0).drop();
    expect(ws(1).pos).toBe('E.5.0');
    ws(1).open('alice', { position: { epoch: 'E', u: 5, g: 0 }, recovered: true });
    expect(c.state.recovered).toBe(true);
    ws(1).drop();
    ws(2).open('alice', { position: { epoch: 'F', u: 900, g: 7 }, recovered: false });
    expect(c.state.recovered).toBe(false);
    expect(handshakes()).toEqual([
      ['alice', null, true],
      ['alice', null, false, true],
      ['alice', null, false, false],
    ]);
    ws(2).drop();
    expect(ws(3).pos).toBe('F.900.7');
    c.close();
  });

  it('against a server without recovery: everything delivered as is, no recovered', () => {
    const { c, ws, pushes } = setup();
    ws(0).open('alice');
    ws(0).deliver([[['app/x', 1], ['app/x', 1]], null]);
    expect(pushes()).toEqual([['app/x', 1], ['app/x', 1]]);
    expect('recovered' in c.state).toBe(false);
    ws(0).drop();
    expect(ws(1).pos).toBe('');
    c.close();
  });
});

describe('recovery tracker', () => {
  it('a malformed marker: entries delivered as they are, position unchanged', () => {
    const t = createRecoveryTracker(silentLogger);
    t.onHandshake({ position: { epoch: 'E', u: 1, g: 1 } });
    expect(t.filter([['chsk/pos', ['E', 5, 6]], ['app/a']])).toEqual([['app/a']]);
    expect(t.queryValue()).toBe('E.1.1');
  });

  it('a new epoch under a live connection starts over in it', () => {
    const t = createRecoveryTracker(silentLogger);
    t.onHandshake({ position: { epoch: 'E', u: 50, g: 2 } });
    expect(t.filter([positionMarker('F', [u(1), u(2)]), ['app/a'], ['app/b']])).toEqual([['app/a'], ['app/b']]);
    expect(t.position).toEqual({ epoch: 'F', u: 2, g: 0 });
  });

  it('tells the epoch change once per batch; unlogged entries move nothing; a drop is told with its count', () => {
    const logs: [string, string, unknown][] = [];
    const logger = { ...silentLogger, info: (m: string, d?: unknown) => logs.push(['info', m, d]), debug: (m: string, d?: unknown) => logs.push(['debug', m, d]) };
    const t = createRecoveryTracker(logger);
    t.onHandshake({ position: { epoch: 'E', u: 7, g: 3 } });
    // Only entries outside the log: delivered, the position (and its epoch) stays.
    expect(t.filter([positionMarker('F', [u(0), u(0)]), ['app/r1'], ['app/r2']])).toEqual([['app/r1'], ['app/r2']]);
    expect(t.position).toEqual({ epoch: 'E', u: 7, g: 3 });
    expect(logs).toEqual([]);
    expect(t.filter([positionMarker('F', [g(1), u(1), u(2)]), ['app/a'], ['app/b'], ['app/c']])).toEqual([['app/a'], ['app/b'], ['app/c']]);
    expect(t.position).toEqual({ epoch: 'F', u: 2, g: 1 });
    expect(logs).toEqual([['info', 'sente-rx: the server log changed epoch during a connection', { from: 'E', to: 'F' }]]);
    logs.length = 0;
    expect(t.filter([positionMarker('F', [u(2), g(1), u(3), u(0)]), ['app/b'], ['app/a'], ['app/d'], ['app/r']])).toEqual([['app/d'], ['app/r']]);
    expect(t.position).toEqual({ epoch: 'F', u: 3, g: 1 });
    expect(logs).toEqual([['debug', 'sente-rx: dropped events already received (replay and live delivery overlapped)', { dropped: 2 }]]);
  });
});
