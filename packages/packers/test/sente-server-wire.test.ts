/**
 * A sente-rx server with `ednPacker`, driven by raw WebSocket frames and raw HTTP requests copied
 * from a real Sente v1.21 client session (the recorded frames in ./vectors.ts), answers with the
 * frames a real Sente v1.21 server sent, byte for byte, except where PROTOCOL.md §7 documents a
 * difference (asserted here too).
 */
import type { IncomingMessage } from 'node:http';
import { NIL_UID } from '@sente-rx/core';
import { freshClientId, httpRequest, type HttpResult, nextEvent, uidFromQuery, useFixtures } from '@sente-rx/fixtures';
import type { ServerEventMsg } from '@sente-rx/server';
import { filter, firstValueFrom, lastValueFrom, ReplaySubject, take, timeout } from 'rxjs';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ednPacker } from '../src/edn.js';
import { msgpackPacker } from '../src/msgpack.js';
import { transitPacker } from '../src/transit.js';
import { CLIENT_FRAMES, SERVER_FRAMES } from './vectors.js';

const fx = useFixtures();

const serverFrame = (name: string): string => {
  const v = SERVER_FRAMES.find((f) => f.name === name);
  if (v === undefined) throw new Error(`no server vector ${name}`);
  return v.frame;
};
const clientVector = (name: string) => {
  const v = CLIENT_FRAMES.find((f) => f.name === name);
  if (v === undefined) throw new Error(`no client vector ${name}`);
  return v;
};

/** The test app of the recording: echo replies `{echo data, uid}`, push-me pushes n events. */
async function senteLikeServer(opts: { wsKeepAliveMs?: number; lpTimeoutMs?: number } = {}) {
  const srv = await fx.startServer({
    packer: ednPacker,
    userId: uidFromQuery,
    handshakeData: (req: IncomingMessage) => {
      const hd = new URL(req.url ?? '/', 'http://x').searchParams.get('hd');
      return hd === null ? null : { hd };
    },
    allowedOrigins: 'all',
    ...opts,
  });
  srv.chsk.recv$.subscribe((m: ServerEventMsg) => {
    if (m.id === 'test/echo') m.reply?.({ echo: m.data, uid: m.uid });
    if (m.id === 'test/push-me') {
      const n = (m.data as { n: number }).n;
      for (let i = 0; i < n; i++) m.send(m.uid, ['test/push', { i }]);
    }
  });
  return srv;
}

/** A WebSocket client that keeps every text frame verbatim. */
function textWs(port: number, query: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chsk?${query}`);
  const frames = new ReplaySubject<string>();
  ws.on('message', (data: Buffer) => frames.next(data.toString('utf8')));
  ws.on('error', () => undefined);
  const closed = new Promise<number>((r) => ws.once('close', (code: number) => r(code)));
  fx.track({ close: () => (ws.readyState === WebSocket.OPEN ? ws.close(1000) : undefined) });
  return {
    ws,
    closed,
    next: (pred: (f: string) => boolean = () => true, ms = 5_000) => firstValueFrom(frames.pipe(filter(pred), take(1), timeout(ms))),
    send: (frame: string) => ws.send(frame),
  };
}

const hasCb = (cb: string) => (f: string) => f.endsWith(` "${cb}"]`);
const isPushBatch = (f: string) => f.startsWith('[[[:test/push');

describe('a sente-rx server (ednPacker) answers Sente v1.21 client frames over WebSocket', () => {
  it('sends Sente’s exact handshake, replies, pongs and push batches, and takes every recorded client frame', async () => {
    const srv = await senteLikeServer();
    const c = textWs(srv.port, 'client-id=c1&uid=alice');
    expect(await c.next()).toBe(serverFrame('WS handshake'));

    c.send(clientVector('event with cb').frame);
    expect(await c.next(hasCb('cb1'))).toBe(serverFrame('WS reply'));

    c.send(clientVector('ping with cb').frame);
    expect(await c.next(hasCb('cb2'))).toBe(serverFrame('pong'));
    const ping = await srv.next('chsk/ws-ping');
    expect(ping.reply).toBeUndefined();

    c.send(clientVector('event without cb').frame);
    const noCb = await srv.next('test/echo', (m) => (m.data as { x?: number }).x === 2);
    expect(noCb.reply).toBeUndefined();

    c.send(clientVector('1-element envelope').frame);
    const oneElement = await srv.next('test/echo', (m) => (m.data as { x?: number }).x === 3);
    expect(oneElement.event).toEqual(['test/echo', { x: 3 }]);
    expect(oneElement.reply).toBeUndefined();

    c.send(clientVector('push request').frame);
    expect(await c.next(isPushBatch)).toBe(serverFrame('push batch of 3'));

    c.send(clientVector('pong').frame);
    expect((await srv.next('chsk/ws-pong')).event).toEqual(['chsk/ws-pong']);

    const rich = clientVector('rich EDN event');
    c.send(rich.frame);
    const richReply = await c.next(hasCb('cb0'));
    const sent = (rich.value as [[string, unknown], string])[0][1];
    expect(ednPacker.unpack(richReply)).toEqual([{ echo: sent, uid: 'alice' }, 'cb0']);

    // A documented difference (PROTOCOL.md §7): Sente hands [:chsk/bad-event …] to its handler and
    // sends nothing; sente-rx drops the event and fails the request at once.
    c.send(clientVector('non-namespaced id').frame);
    expect(await c.next(hasCb('cb3'))).toBe('[:chsk/error "cb3"]');
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('pushes a single event as a batch of one, and sends the server ping as the bare keyword', async () => {
    const srv = await senteLikeServer({ wsKeepAliveMs: 400 });
    const c = textWs(srv.port, 'client-id=c1p&uid=alice');
    await c.next();
    srv.chsk.send('alice', ['test/push', { i: 0 }]);
    expect(await c.next(isPushBatch)).toBe(serverFrame('push batch of 1'));
    expect(await c.next((f) => f.includes('ws-ping'))).toBe(serverFrame('server ping'));
    c.send('[[:chsk/ws-pong] nil]'); // what Sente's own client answers
    expect((await srv.next('chsk/ws-pong')).event).toEqual(['chsk/ws-pong']);
  });

  it('sends :sente/nil-uid and the handshake data in Sente’s slot', async () => {
    const srv = await senteLikeServer();
    const c = textWs(srv.port, 'client-id=c9&hd=hello');
    expect(await c.next()).toBe(serverFrame('nil-uid handshake with data'));
    c.send('[[:test/echo {:x 1}] "cb1"]');
    // In user data the uid is a string: Sente's handler would see (and echo) the keyword.
    expect(await c.next(hasCb('cb1'))).toBe(`[{:echo {:x 1}, :uid "${NIL_UID}"} "cb1"]`);
  });
});

describe('a sente-rx server (ednPacker) answers Sente v1.21 Ajax requests', () => {
  const FORM = 'application/x-www-form-urlencoded;charset=UTF-8';
  const sentePost = (port: number, body: string, query = 'uid=bob'): Promise<HttpResult> =>
    httpRequest(port, { method: 'POST', path: `/chsk?${query}`, headers: { 'X-Requested-With': 'XMLHTTPRequest', 'Content-Type': FORM }, body });
  const form = (clientId: string, ppstr: string): string => `udt=1733000000003&client-id=${clientId}&ppstr=${encodeURIComponent(ppstr)}`;

  it('answers the handshake GET exactly as Sente’s client builds it, and with handshake?=true', async () => {
    const srv = await senteLikeServer();
    const a = await httpRequest(srv.port, { path: '/chsk?udt=1733000000000&client-id=c2&uid=bob&handshake%3F=1', headers: { 'X-Requested-With': 'XMLHTTPRequest' } });
    expect(a.status).toBe(200);
    expect(a.body).toBe(serverFrame('Ajax handshake'));
    // Sente answers text/html (http-kit's default); sente-rx text/plain (PROTOCOL.md §7).
    expect(a.headers['content-type']).toBe('text/plain; charset=utf-8');
    const b = await httpRequest(srv.port, { path: '/chsk?client-id=c2b&uid=bob&handshake?=true&udt=1' });
    expect(b.body).toBe(serverFrame('Ajax handshake'));
    // the first GET of a client id without handshake? gets the handshake too
    const e = await httpRequest(srv.port, { path: '/chsk?udt=1733000000006&client-id=c7&uid=erin' });
    expect(e.body).toBe('[[:chsk/handshake ["erin" nil nil]] nil]');
  });

  it('answers a long poll with a push batch, or [:chsk/timeout nil] after lpTimeoutMs', async () => {
    const srv = await senteLikeServer({ lpTimeoutMs: 300 });
    const clientId = freshClientId('lp');
    await httpRequest(srv.port, { path: `/chsk?udt=1&client-id=${clientId}&uid=bob&handshake%3F=1` });
    const held = httpRequest(srv.port, { path: `/chsk?udt=2&client-id=${clientId}&uid=bob` });
    await srv.next('chsk/uidport-open', (m) => m.data === 'bob');
    srv.chsk.send('bob', ['test/push', { i: 0 }]);
    srv.chsk.send('bob', ['test/push', { i: 1 }]);
    expect((await held).body).toBe('[[[:test/push {:i 0}] [:test/push {:i 1}]] nil]');
    const empty = await httpRequest(srv.port, { path: `/chsk?udt=3&client-id=${clientId}&uid=bob` });
    expect(empty.body).toBe(serverFrame('empty long poll'));
  });

  it('reads Sente’s form POSTs (udt, client-id, ppstr) and answers with Sente’s bodies', async () => {
    const srv = await senteLikeServer({ lpTimeoutMs: 300 });
    // verbatim bodies from the recording
    const withCb = await sentePost(srv.port, 'udt=1733000000003&client-id=c2&ppstr=%5B%5B%3Atest%2Fecho%20%7B%3Ax%201%7D%5D%20%3Aajax%5D');
    expect(withCb.status).toBe(200);
    expect(withCb.body).toBe(serverFrame('Ajax POST reply'));
    expect(withCb.headers['content-type']).toBe('text/plain; charset=utf-8');
    const noCb = await sentePost(srv.port, 'udt=1733000000003&client-id=c2&ppstr=%5B%5B%3Atest%2Fecho%20%7B%3Ax%202%7D%5D%20nil%5D');
    expect(noCb.body).toBe(serverFrame('Ajax POST without cb'));
    expect((await srv.next('test/echo', (m) => (m.data as { x?: number }).x === 2)).reply).toBeUndefined();
    const stringCb = await sentePost(srv.port, 'udt=1733000000003&client-id=c2&ppstr=%5B%5B%3Atest%2Fecho%20%7B%3Ax%206%7D%5D%20%22cb6%22%5D');
    expect(stringCb.body).toBe('[{:echo {:x 6}, :uid "bob"} nil]');
    const unanswered = await sentePost(srv.port, 'udt=1733000000003&client-id=c2&ppstr=%5B%5B%3Atest%2Funhandled%5D%20%3Aajax%5D');
    expect(unanswered.body).toBe('[:chsk/timeout nil]');
    // every recorded Ajax client frame, through the form
    for (const v of CLIENT_FRAMES.filter((f) => f.transport === 'ajax' && f.name !== 'Ajax POST, id only')) {
      const r = await sentePost(srv.port, form('c2', v.frame));
      expect(r.status).toBe(200);
      expect(r.body).toMatch(/^\[\{:echo \{:x \d\}, :uid "bob"\} nil\]$|^\[:chsk\/dummy-cb-200 nil\]$/);
    }
  });

  it('takes client-id from the query when the form has none, and refuses a form without ppstr or client-id', async () => {
    const srv = await senteLikeServer();
    const q = await sentePost(srv.port, `ppstr=${encodeURIComponent('[[:test/echo {:x 1}] :ajax]')}`, 'uid=bob&client-id=cq');
    expect(q.body).toBe(serverFrame('Ajax POST reply'));
    const noPpstr = await sentePost(srv.port, 'udt=1&client-id=c2');
    expect(noPpstr.status).toBe(400);
    expect(noPpstr.body).toMatch(/ppstr/);
    const noClientId = await sentePost(srv.port, `udt=1&ppstr=${encodeURIComponent('[[:test/echo {:x 1}] :ajax]')}`);
    expect(noClientId.status).toBe(400);
    expect(noClientId.body).toMatch(/client-id/);
  });

  it('also takes the raw envelope body with client-id in the query (which Sente drops)', async () => {
    const srv = await senteLikeServer();
    const r = await httpRequest(srv.port, {
      method: 'POST',
      path: '/chsk?client-id=c2&uid=bob&udt=4',
      headers: { 'Content-Type': 'text/plain' },
      body: '[[:test/echo {:x 4}] :ajax]',
    });
    expect(r.body).toBe('[{:echo {:x 4}, :uid "bob"} nil]');
  });
});

describe('sente-rx client and server with each packer, both transports', () => {
  const cases = [
    ['ednPacker', ednPacker, 'application/x-www-form-urlencoded;charset=UTF-8'],
    ['transitPacker', transitPacker, 'application/x-www-form-urlencoded;charset=UTF-8'],
    ['msgpackPacker', msgpackPacker, 'application/octet-stream'],
  ] as const;
  describe.each(cases)('%s', (_name, packer, postType) => {
    it.each(['ws', 'ajax'] as const)('%s: handshake, request and reply, push', async (type) => {
      const srv = await fx.startServer({ packer, userId: uidFromQuery });
      srv.chsk.recv$.subscribe((m: ServerEventMsg) => {
        if (m.id === 'test/echo') m.reply?.({ echo: m.data, uid: m.uid });
      });
      const c = fx.client(srv.port, { type, packer, uid: 'zed' });
      expect((await nextEvent(c, 'chsk/handshake')).data).toEqual(['zed', null, true]);
      expect(await lastValueFrom(c.send(['test/echo', { x: 1, s: 'hé' }], { timeoutMs: 5_000 }))).toEqual({ echo: { x: 1, s: 'hé' }, uid: 'zed' });
      const req = (await srv.next('test/echo')).request;
      if (type === 'ajax') {
        expect(req.headers['content-type']).toBe(postType);
        expect(new URL(req.url, 'http://x').searchParams.get('binary?')).toBe(packer.binary ? 'true' : null);
      }
      const pushed = nextEvent(c, 'test/push');
      srv.chsk.send('zed', ['test/push', { i: 0 }]);
      expect((await pushed).data).toEqual({ i: 0 });
    });
  });
});
