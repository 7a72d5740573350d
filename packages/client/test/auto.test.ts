/**
 * `type: 'auto'` (DESIGN.md §3; Sente §5.3): WebSocket first, Ajax long-polling when WebSocket is
 * refused or keeps dying, the fallback remembered in `storage`, and reconnect() trying WebSocket again.
 */
import type { IncomingMessage } from 'node:http';
import type { ChannelSocketClient, ClientOptions, StatePair } from '@sente-rx/client';
import type { ServerOptions } from '@sente-rx/server';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { client, whenOpen } from '@sente-rx/fixtures';
import { type CustomServer, type CustomServerOptions, hits, memoryStorage, record, startCustomServer, waitFor } from './contract-support.js';

const servers: CustomServer[] = [];
const clients: ChannelSocketClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

async function server(custom: CustomServerOptions = {}, opts: ServerOptions<IncomingMessage> = {}): Promise<CustomServer> {
  const s = await startCustomServer({ reconnectGraceMs: { ws: 1_000, ajax: 2_000 }, ...opts }, custom);
  servers.push(s);
  return s;
}

function connect(srv: CustomServer, uid: string, opts: ClientOptions = {}) {
  const c = client(srv.port, { type: 'auto', uid, ...opts });
  clients.push(c);
  return { c, rec: record(c) };
}

const opened = (rec: { states: StatePair[] }): string[] => rec.states.filter(([, s]) => s.opened).map(([, s]) => String(s.type));
/** What the server saw from this client: 'ws' for an upgrade attempt, 'ajax' for a plain GET or POST. */
const attempts = (srv: CustomServer, c: ChannelSocketClient): ('ws' | 'ajax')[] =>
  srv.log.hits.filter((h) => h.clientId === c.clientId).map((h) => (h.kind === 'upgrade' ? 'ws' : 'ajax'));

async function worksOverAjax(srv: CustomServer, c: ChannelSocketClient, rec: ReturnType<typeof record>): Promise<void> {
  await expect(firstValueFrom(c.send(['test/echo', 'via ajax'], { timeoutMs: 3_000 }))).resolves.toBe('via ajax');
  const push = waitFor(rec.events, 'test/push');
  srv.chsk.send(String(c.state.uid), ['test/push', 'p']);
  expect((await push).data).toBe('p');
  expect((await srv.next('test/echo')).request.transport).toBe('ajax');
}

describe('auto falls back to Ajax when the WebSocket upgrade is refused', () => {
  it('no upgrade listener on the server (Node hands the upgrade to the request handler: 426)', async () => {
    const srv = await server({ upgrade: 'none' });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const { c, rec } = connect(srv, 'alice');
    await whenOpen(c);
    expect(c.state.type).toBe('ajax');
    expect(opened(rec)).toEqual(['ajax']);
    const first = rec.states.find(([, s]) => s.opened)![1];
    expect(first.firstOpen).toBe(true);
    // The failed WebSocket is on record; nothing was open, so there is no lastClose.
    expect(c.state.lastWsError?.message).toMatch(/426/);
    expect(c.state.lastWsClose).toMatchObject({ clean: false });
    expect(c.state.lastClose).toBeUndefined();
    // One WebSocket try (it reached the Ajax handler, which answered 426), then Ajax only.
    const seen = attempts(srv, c);
    expect(seen[0]).toBe('ws');
    expect(seen.filter((k) => k === 'ws')).toHaveLength(1);
    expect(rec.data('chsk/handshake')).toEqual([['alice', null, true]]);
    await worksOverAjax(srv, c, rec);
  });

  it('an upgrade answered with HTTP 500', async () => {
    const srv = await server({ upgrade: 'http-500' });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const { c, rec } = connect(srv, 'alice');
    await whenOpen(c);
    expect(c.state.type).toBe('ajax');
    expect(opened(rec)).toEqual(['ajax']);
    expect(c.state.lastWsError?.message).toMatch(/500/);
    expect(c.state.lastWsClose?.clean).toBe(false);
    expect(c.state.lastClose).toBeUndefined();
    const seen = attempts(srv, c);
    expect(seen[0]).toBe('ws');
    expect(seen.filter((k) => k === 'ws')).toHaveLength(1); // tried once, then Ajax only
    await worksOverAjax(srv, c, rec);
    expect(attempts(srv, c).filter((k) => k === 'ws')).toHaveLength(1);
  });

  it('a WebSocket killed right after opening, twice in a row', async () => {
    const srv = await server({ upgrade: 'killable' });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const { c, rec } = connect(srv, 'alice');
    // A middlebox that lets the upgrade through and then drops the connection.
    let kills = 0;
    c.state$.subscribe(([, s]) => {
      if (s.opened && s.type === 'ws') kills += srv.killSockets();
    });
    const onAjax = rec.nextState(([, s]) => s.opened === true && s.type === 'ajax');
    await onAjax;
    expect(kills).toBe(2);
    expect(opened(rec)).toEqual(['ws', 'ws', 'ajax']);
    const closes = rec.states.filter(([, s]) => s.closed).map(([, s]) => s.lastClose?.reason);
    expect(closes).toEqual(['unexpected', 'downgrading-ws-to-ajax']);
    expect(c.state.lastWsClose?.clean).toBe(false);
    await worksOverAjax(srv, c, rec);
    expect(attempts(srv, c).filter((k) => k === 'ws')).toHaveLength(2);
  });
});

describe('auto stays on WebSocket when WebSocket works', () => {
  it('opens on WebSocket and never polls', async () => {
    const srv = await server();
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const storage = memoryStorage();
    const { c, rec } = connect(srv, 'alice', { storage });
    await whenOpen(c);
    expect(c.state.type).toBe('ws');
    await expect(firstValueFrom(c.send(['test/echo', 1], { timeoutMs: 3_000 }))).resolves.toBe(1);
    // One network failure is not a reason to give up on WebSocket.
    const back = rec.nextState(([, s]) => s.opened === true);
    c.breakConnection();
    expect((await back)[1].type).toBe('ws');
    expect(attempts(srv, c)).toEqual(['ws', 'ws']);
    expect([...storage.map.values()]).not.toContain('ajax');
  });

  it('the server closing the socket on purpose (chsk/close, twice) does not count as a broken WebSocket', async () => {
    const srv = await server();
    const { c, rec } = connect(srv, 'alice');
    await whenOpen(c);
    for (let i = 0; i < 2; i++) {
      const back = rec.nextState(([, s]) => s.opened === true);
      srv.chsk.send('alice', ['chsk/close']); // Sente's way to make a user's clients reconnect (e.g. after login)
      const [, s] = await back;
      expect(s.lastWsClose).toMatchObject({ code: 4000, clean: true });
      expect(s.type).toBe('ws');
    }
    expect(opened(rec)).toEqual(['ws', 'ws', 'ws']);
    expect(attempts(srv, c).every((k) => k === 'ws')).toBe(true);
  });
});

describe('the fallback is remembered in storage', () => {
  it('a new client with that storage starts on Ajax; reconnect() tries WebSocket again and forgets it', async () => {
    const storage = memoryStorage();
    const refusing = await server({ upgrade: 'http-500' });
    const first = connect(refusing, 'alice', { storage });
    await whenOpen(first.c);
    expect(first.c.state.type).toBe('ajax');
    expect([...storage.map.values()]).toContain('ajax');

    // A second client (a new page in the same tab) starts on Ajax, even against a server whose
    // WebSocket works: it does not try WebSocket at all.
    const working = await server();
    const second = connect(working, 'alice', { storage });
    await whenOpen(second.c);
    expect(second.c.state.type).toBe('ajax');
    expect(opened(second.rec)).toEqual(['ajax']);
    expect(attempts(working, second.c)).not.toContain('ws');

    // reconnect() tries WebSocket again, which works here, and forgets the fallback.
    const reopened = second.rec.nextState(([, s]) => s.opened === true);
    second.c.reconnect();
    const [, s] = await reopened;
    expect(s.type).toBe('ws');
    expect(s.lastClose?.reason).toBe('requested-reconnect');
    expect(attempts(working, second.c)).toContain('ws');
    expect([...storage.map.values()]).not.toContain('ajax');

    const third = connect(working, 'alice', { storage });
    await whenOpen(third.c);
    expect(third.c.state.type).toBe('ws');
    expect(attempts(working, third.c)[0]).toBe('ws');
  });

  it('reconnect() on a client that fell back tries WebSocket again (and falls back again when it is still refused)', async () => {
    const storage = memoryStorage();
    const srv = await server({ upgrade: 'http-500' });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const { c, rec } = connect(srv, 'alice', { storage });
    await whenOpen(c);
    expect(c.state.type).toBe('ajax');
    const wsTries = attempts(srv, c).filter((k) => k === 'ws').length;
    expect(wsTries).toBe(1);
    const reopened = rec.nextState(([, s]) => s.opened === true);
    c.reconnect();
    await hits(srv.log, wsTries + 1, (h) => h.clientId === c.clientId && h.kind === 'upgrade');
    const [, s] = await reopened;
    expect(s.type).toBe('ajax');
    expect(attempts(srv, c).filter((k) => k === 'ws')).toHaveLength(2);
    expect([...storage.map.values()]).toContain('ajax');
    await worksOverAjax(srv, c, rec);
  });
});
