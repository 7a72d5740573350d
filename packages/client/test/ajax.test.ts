/**
 * Ajax long-polling specifics (PROTOCOL.md §4; Sente §4.4): held polls and lpTimeoutMs cycles,
 * push latency during and between polls, the POST outcomes, Ajax presence, and hosting in Express 5.
 */
import type { IncomingMessage } from 'node:http';
import { type ChannelSocketClient, type ClientOptions, type FetchLike } from '@sente-rx/client';
import type { ServerEventMsg, ServerOptions } from '@sente-rx/server';
import { firstValueFrom, Subject, take, timeout } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { client, whenOpen } from '@sente-rx/fixtures';
import { current, type CustomServer, type CustomServerOptions, gate, handled, hits, record, startCustomServer, waitFor } from './contract-support.js';

const servers: CustomServer[] = [];
const clients: ChannelSocketClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

async function server(opts: ServerOptions<IncomingMessage> = {}, custom: CustomServerOptions = {}): Promise<CustomServer> {
  const s = await startCustomServer(opts, custom);
  servers.push(s);
  return s;
}

function connect(srv: CustomServer, uid: string, opts: ClientOptions = {}, csrf: Parameters<typeof client>[2] = null) {
  const c = client(srv.port, { type: 'ajax', uid, ...opts }, csrf);
  clients.push(c);
  return { c, rec: record(c) };
}

/** Everything the server received so far (its `received` replays). */
function receivedSoFar(srv: CustomServer): ServerEventMsg[] {
  const out: ServerEventMsg[] = [];
  srv.received.subscribe((m) => out.push(m)).unsubscribe();
  return out;
}

const url = (srv: CustomServer, query: Record<string, string>): string => `http://127.0.0.1:${srv.port}/chsk?${new URLSearchParams(query).toString()}`;
const textHeaders = { 'Content-Type': 'text/plain;charset=UTF-8' };
/** How the server answers a long-poll that ran out (PROTOCOL.md §4). */
const LP_TIMEOUT_ANSWER = ['chsk/timeout', null];

describe('long-polling', () => {
  it('stays open across several lpTimeoutMs cycles, re-polling each time, and still gets pushes', async () => {
    const lpTimeoutMs = 150;
    const srv = await server({ lpTimeoutMs, reconnectGraceMs: { ajax: 1_000 } });
    // What each long-poll GET was answered with (handshake requests excluded).
    const answers: unknown[] = [];
    const fetchFn: FetchLike = async (input, init) => {
      const res = await fetch(input, init);
      if (init?.method === 'GET' && !new URL(input).searchParams.has('handshake?')) answers.push(JSON.parse(await res.clone().text()));
      return res;
    };
    const { c, rec } = connect(srv, 'alice', { fetch: fetchFn });
    await whenOpen(c);
    const mine = (h: { clientId: string | null; poll: boolean }): boolean => h.poll && h.clientId === c.clientId;
    // The 4th poll comes after 3 polls ended with chsk/timeout.
    await hits(srv.log, 4, mine, 5_000);
    // Each poll was held until the server's lpTimeoutMs ran out (answered with the timeout, not
    // at once with anything else), and the client polled again at once: the server never saw it go.
    expect(answers.slice(0, 3)).toEqual([LP_TIMEOUT_ANSWER, LP_TIMEOUT_ANSWER, LP_TIMEOUT_ANSWER]);
    expect(rec.states.filter(([, s]) => s.closed)).toEqual([]);
    expect(c.state.open).toBe(true);
    expect(receivedSoFar(srv).filter((m) => m.id === 'chsk/uidport-close')).toEqual([]);
    const push = waitFor(rec.events, 'test/push');
    srv.chsk.send('alice', ['test/push', 'still here']);
    expect((await push).data).toBe('still here');
    expect(rec.data('chsk/handshake')).toHaveLength(1);
  });

  it('a push during a held poll (batched for sendBufMs.ajax) is written to that poll, not to a later one', async () => {
    const sendBufAjax = 100;
    const srv = await server({ batching: 'window', sendBufMs: { ajax: sendBufAjax }, lpTimeoutMs: 10_000 });
    // Numbers each long-poll GET and notes which one's answer carried the push.
    let started = 0;
    let carrier = -1;
    const fetchFn: FetchLike = async (input, init) => {
      const isPoll = init?.method === 'GET' && !new URL(input).searchParams.has('handshake?');
      const n = isPoll ? ++started : 0;
      const res = await fetch(input, init);
      if (isPoll && (await res.clone().text()).includes('test/push')) carrier = n;
      return res;
    };
    const { c, rec } = connect(srv, 'alice', { fetch: fetchFn });
    await whenOpen(c);
    await hits(srv.log, 1, (h) => h.poll && h.clientId === c.clientId); // held from here on
    const held = started;
    const push = waitFor(rec.events, 'test/push');
    srv.chsk.send('alice', ['test/push', 1]);
    expect((await push).data).toBe(1);
    // The batching window itself is the server's time logic (tested there in virtual time).
    expect(carrier).toBe(held);
  });

  it('a push between polls is kept and arrives, in order, on the next poll', async () => {
    const srv = await server({ lpTimeoutMs: 10_000 });
    // A fetch that can hold back the client's next poll, so pushes land while none is held.
    let hold: ReturnType<typeof gate> | null = null;
    const heldBack = new Subject<void>();
    const fetchFn: FetchLike = async (input, init) => {
      const g = hold;
      if (g !== null && init?.method === 'GET' && !new URL(input).searchParams.has('handshake?')) {
        hold = null;
        heldBack.next();
        await g.wait();
      }
      return fetch(input, init);
    };
    const { c, rec } = connect(srv, 'alice', { fetch: fetchFn });
    await whenOpen(c);
    const mine = (h: { clientId: string | null; poll: boolean }): boolean => h.poll && h.clientId === c.clientId;
    await hits(srv.log, 1, mine);
    const g = gate();
    hold = g;
    const pollHeldBack = handled(firstValueFrom(heldBack.pipe(take(1), timeout(5_000))));
    const first = waitFor(rec.events, 'test/push');
    srv.chsk.send('alice', ['test/push', 'a'], { flush: true }); // answers the held poll
    expect((await first).data).toBe('a');
    await pollHeldBack; // the client's next poll has not reached the server
    const pollsBefore = srv.log.hits.filter(mine).length;
    srv.chsk.send('alice', ['test/push', 'b'], { flush: true });
    srv.chsk.send('alice', ['test/push', 'c'], { flush: true });
    const last = waitFor(rec.events, 'test/push', (m) => m.data === 'c');
    g.open();
    await last;
    expect(rec.data('test/push')).toEqual(['a', 'b', 'c']);
    // Delivered by the first poll after the gap, not a later one.
    expect(srv.log.hits.filter(mine).length).toBe(pollsBefore + 1);
    expect(c.state.open).toBe(true);
  });

  it('registers the uid as connected over Ajax (uidport-open/close, connectedUids$.ajax)', async () => {
    const srv = await server({ reconnectGraceMs: { ajax: 500 } });
    const { c } = connect(srv, 'carol');
    const open = await srv.next('chsk/uidport-open', (m) => m.uid === 'carol');
    expect(open.data).toBe('carol');
    // By the time uidport-open is emitted, connectedUids$ already lists the uid.
    const now = current(srv.chsk.connectedUids$);
    expect(now.ajax.has('carol')).toBe(true);
    expect(now.any.has('carol')).toBe(true);
    expect(now.ws.has('carol')).toBe(false);
    c.disconnect();
    const close = await srv.next('chsk/uidport-close', (m) => m.uid === 'carol');
    expect(close.data).toBe('carol');
    const after = current(srv.chsk.connectedUids$);
    expect(after.ajax.has('carol')).toBe(false);
    expect(after.any.has('carol')).toBe(false);
  });

  it('connectedUids$.value and getValue() are the current value, as on a BehaviorSubject', async () => {
    const srv = await server();
    const { c } = connect(srv, 'carol');
    await whenOpen(c);
    await srv.next('chsk/uidport-open', (m) => m.uid === 'carol');
    expect(srv.chsk.connectedUids$.getValue().ajax.has('carol')).toBe(true);
    expect(srv.chsk.connectedUids$.value).toBe(srv.chsk.connectedUids$.getValue());
    expect(srv.chsk.connectedUids$.value.ajax.has('carol')).toBe(true);
  });
});

describe('POST outcomes (raw fetch)', () => {
  const envelope = (ev: unknown[], cbId: string | null = null): string => JSON.stringify([ev, cbId]);

  it('413 for a body over maxMessageBytes, refused without the event reaching recv$', async () => {
    const srv = await server({ maxMessageBytes: 1_024 });
    const big = envelope(['test/big', 'x'.repeat(2_000)]);
    const res = await fetch(url(srv, { 'client-id': 'raw-1' }), { method: 'POST', headers: textHeaders, body: big });
    expect(res.status).toBe(413);
    expect(await res.text()).toMatch(/too large/i);
    // A body under the limit passes, and is the first test/big the server sees.
    const ok = await fetch(url(srv, { 'client-id': 'raw-1' }), { method: 'POST', headers: textHeaders, body: envelope(['test/big', 'small']) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('["chsk/dummy-cb-200",null]');
    expect((await srv.next('test/big')).data).toBe('small');
    expect(receivedSoFar(srv).filter((m) => m.id === 'test/big')).toHaveLength(1);
  });

  it('413 for a streamed body (no Content-Length) once it passes maxMessageBytes', async () => {
    const srv = await server({ maxMessageBytes: 1_024 });
    const chunk = new TextEncoder().encode('x'.repeat(512));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent++ < 8) ctl.enqueue(chunk);
        else ctl.close();
      },
    });
    const res = await fetch(url(srv, { 'client-id': 'raw-2' }), { method: 'POST', headers: textHeaders, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    await res.body?.cancel();
    expect(receivedSoFar(srv).filter((m) => !m.id.startsWith('chsk/'))).toEqual([]);
  });

  it('400 for a body that does not unpack, is not a valid event, or uses a reserved id', async () => {
    const srv = await server();
    const post = (body: string) => fetch(url(srv, { 'client-id': 'raw-3' }), { method: 'POST', headers: textHeaders, body });
    for (const body of ['not json{', '{"a":1}', envelope(['no-namespace']), envelope(['chsk/ws-ping'])]) {
      const res = await post(body);
      expect.soft(res.status, body).toBe(400);
      expect.soft(await res.text(), body).toMatch(/^Bad request/);
    }
    expect(receivedSoFar(srv).filter((m) => !m.id.startsWith('chsk/'))).toEqual([]);
  });

  it('400 for a POST without client-id', async () => {
    const srv = await server();
    const res = await fetch(url(srv, {}), { method: 'POST', headers: textHeaders, body: envelope(['test/x', 1]) });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/client-id/);
    const empty = await fetch(url(srv, { 'client-id': '' }), { method: 'POST', headers: textHeaders, body: envelope(['test/x', 1]) });
    expect(empty.status).toBe(400);
    expect(receivedSoFar(srv).filter((m) => m.id === 'test/x')).toEqual([]);
  });

  it('403 for a bad or missing X-CSRF-Token; the right one passes', async () => {
    const srv = await server({ csrfToken: () => 'secret' });
    const post = (headers: Record<string, string>, data: string) =>
      fetch(url(srv, { 'client-id': 'raw-4' }), { method: 'POST', headers: { ...textHeaders, ...headers }, body: envelope(['test/csrf', data]) });
    const bad = await post({ 'X-CSRF-Token': 'wrong' }, 'bad');
    expect(bad.status).toBe(403);
    expect(await bad.text()).toBe('Bad CSRF token');
    expect((await post({}, 'missing')).status).toBe(403);
    const good = await post({ 'X-CSRF-Token': 'secret' }, 'good');
    expect(good.status).toBe(200);
    expect((await srv.next('test/csrf')).data).toBe('good');
    expect(receivedSoFar(srv).filter((m) => m.id === 'test/csrf').map((m) => m.data)).toEqual(['good']);
  });
});

describe.each<{ name: string; type: 'ws' | 'ajax'; custom: CustomServerOptions }>([
  { name: 'ws', type: 'ws', custom: { express: true } },
  { name: 'ajax', type: 'ajax', custom: { express: true } },
  { name: 'ajax behind express.text()', type: 'ajax', custom: { express: true, expressTextParser: true } },
])('mounted in Express 5: $name', ({ type, custom }) => {
  it('handshakes, replies and pushes', async () => {
    const srv = await server({ handshakeData: () => ({ host: 'express' }) }, custom);
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.({ echo: m.data }));
    const { c, rec } = connect(srv, 'alice', { type });
    const hs = await waitFor(rec.events, 'chsk/handshake');
    expect(hs.data).toEqual(['alice', { host: 'express' }, true]);
    expect(c.state).toMatchObject({ open: true, type, uid: 'alice' });
    await expect(firstValueFrom(c.send(['test/echo', 7], { timeoutMs: 3_000 }))).resolves.toEqual({ echo: 7 });
    c.send(['test/note', 'n']).subscribe({ error: () => undefined });
    expect((await srv.next('test/note')).request.transport).toBe(type);
    const push = waitFor(rec.events, 'test/push');
    srv.chsk.send('alice', ['test/push', 'from express']);
    expect((await push).data).toBe('from express');
  });
});
