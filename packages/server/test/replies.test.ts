/**
 * Replies and the server event-msg: reply() is present only when the client sent a cbId, only
 * the first call is sent, and every field of the event-msg is what the request carried.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import type { ServerEventMsg } from '@sente-rx/server';
import { chskPath, client, freshClientId, httpRequest, pushedEvents, rawWs, recordingLogger, type TestServer, whenOpen, useFixtures, ManualScheduler } from '@sente-rx/fixtures';

describe('replies over WebSocket', () => {
  let srv: TestServer;
  const fx = useFixtures();

  it('reply() is sent once: a second call is ignored', async () => {
    const logger = recordingLogger();
    srv = await fx.startServer({ logger });
    srv.chsk.recv$.subscribe((m) => {
      if (m.id !== 'test/twice') return;
      m.reply?.('first');
      m.reply?.('second');
    });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const c = rawWs(srv.port, { uid: 'alice' });
    await c.handshake();
    expect(await c.request(['test/twice'], 'c1')).toBe('first');
    // the sentinel: a later request's reply; everything the second reply() could send would come before it
    expect(await c.request(['test/echo', 'z'], 'c2')).toBe('z');
    expect(c.received.filter((m) => Array.isArray(m) && m[1] === 'c1')).toEqual([['first', 'c1']]);
    expect(logger.entries.some((e) => e.level === 'debug' && /reply\(\) called again/.test(e.msg))).toBe(true);
    await c.close();
  });

  it('reply is present only when the client sent a cbId', async () => {
    srv = await fx.startServer();
    const c = rawWs(srv.port, { uid: 'alice' });
    await c.handshake();
    c.sendJson([['test/no-cb', 1], null]);
    const without = await srv.next('test/no-cb');
    expect(without.reply).toBeUndefined();
    expect('reply' in without).toBe(false);
    c.sendJson([['test/with-cb', 2], 'cb-9']);
    const withCb = await srv.next('test/with-cb');
    expect(typeof withCb.reply).toBe('function');
    withCb.reply!({ ok: true });
    expect(await c.next((m) => Array.isArray(m) && m[1] === 'cb-9')).toEqual([{ ok: true }, 'cb-9']);
    await c.close();
  });

  it('a reply goes only to the requesting socket, not to other tabs of the uid', async () => {
    srv = await fx.startServer({ sendBufMs: { ws: 0 } });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const tab1 = rawWs(srv.port, { uid: 'alice' });
    const tab2 = rawWs(srv.port, { uid: 'alice' });
    await Promise.all([tab1.handshake(), tab2.handshake()]);
    expect(await tab1.request(['test/echo', 'mine'], 'same-cb')).toBe('mine');
    srv.chsk.send('alice', ['test/sentinel']); // both tabs get this; tab2 gets nothing else
    await tab2.next((m) => Array.isArray(m) && Array.isArray(m[0]) && JSON.stringify(m[0]) === '[["test/sentinel"]]');
    expect(tab2.received.slice(1)).toEqual([[[['test/sentinel']], null]]);
    await Promise.all([tab1.close(), tab2.close()]);
  });

  it('a reply value that cannot be packed becomes "chsk/error" (logged), and the socket stays usable', async () => {
    const logger = recordingLogger();
    srv = await fx.startServer({ logger });
    srv.chsk.recv$.subscribe((m) => {
      if (m.id === 'test/bigint') m.reply?.(10n);
      if (m.id === 'test/circular') {
        const o: Record<string, unknown> = {};
        o['self'] = o;
        m.reply?.(o);
      }
      if (m.id === 'test/echo') m.reply?.(m.data);
    });
    const c = rawWs(srv.port, { uid: 'alice' });
    await c.handshake();
    expect(await c.request(['test/bigint'], 'c1')).toBe('chsk/error');
    expect(await c.request(['test/circular'], 'c2')).toBe('chsk/error');
    expect(logger.forClient(c.clientId).filter((e) => e.level === 'error').length).toBe(2);
    expect(await c.request(['test/echo', 'ok'], 'c4')).toBe('ok');
    await c.close();
  });

  it('a handler may reply with the reserved failure values on purpose, with null, and with undefined', async () => {
    srv = await fx.startServer();
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
    const c = rawWs(srv.port, { uid: 'alice' });
    await c.handshake();
    expect(await c.request(['test/echo', 'chsk/timeout'], 'c1')).toBe('chsk/timeout');
    expect(await c.request(['test/echo', null], 'c2')).toBe(null);
    // no data: reply(undefined) goes on the wire as null (JSON has no undefined)
    expect(await c.request(['test/echo'], 'c3')).toBe(null);
    expect(c.received).toContainEqual([null, 'c3']);
    await c.close();
  });

  it('reply() after the socket closed neither throws nor reaches another socket', async () => {
    srv = await fx.startServer({ reconnectGraceMs: { ws: 1_000 } });
    const pending: ServerEventMsg[] = [];
    srv.chsk.recv$.subscribe((m) => m.id === 'test/later' && pending.push(m));
    const clientId = freshClientId('alice');
    const c = rawWs(srv.port, { uid: 'alice', clientId });
    await c.handshake();
    c.sendJson([['test/later'], 'late-1']);
    await srv.next('test/later');
    await c.close();
    // the same client reconnects: the old request's reply must not land on the new socket
    const again = rawWs(srv.port, { uid: 'alice', clientId });
    await again.handshake();
    expect(() => pending[0]!.reply!('too late')).not.toThrow();
    expect(await again.request(['chsk/ws-ping'], 'sentinel')).toBe('pong');
    expect(again.received.some((m) => Array.isArray(m) && m[1] === 'late-1')).toBe(false);
    await again.close();
  });
});

describe('the server event-msg', () => {
  let srv: TestServer;
  const fx = useFixtures();

  it('over WebSocket: event, id, data, uid, clientId, request (transport, method, url, headers) and send', async () => {
    srv = await fx.startServer({ sendBufMs: { ws: 0 } });
    const clientId = freshClientId('fields');
    const c = rawWs(srv.port, { uid: 'alice', clientId, query: { extra: 'q1' }, headers: { 'X-Custom': 'hello', 'User-Agent': 'sente-test' } });
    await c.handshake();
    c.sendJson([['test/fields', { a: [1, 2], b: 'x' }], 'f1']);
    const m = await srv.next('test/fields');
    expect(m.event).toEqual(['test/fields', { a: [1, 2], b: 'x' }]);
    expect(m.id).toBe('test/fields');
    expect(m.data).toEqual({ a: [1, 2], b: 'x' });
    expect(m.uid).toBe('alice');
    expect(m.clientId).toBe(clientId);
    expect(m.request.transport).toBe('ws');
    expect(m.request.method).toBe('GET');
    expect(m.request.url).toBe(chskPath({ extra: 'q1', 'client-id': clientId, uid: 'alice' }));
    expect(m.request.headers['x-custom']).toBe('hello');
    expect(m.request.headers['user-agent']).toBe('sente-test');
    // Handshake mechanics (upgrade, connection, sec-websocket-*) are not kept on an idle socket.
    expect(m.request.headers['upgrade']).toBeUndefined();
    expect(m.request.headers['sec-websocket-key']).toBeUndefined();
    expect(m.request.remoteAddress).toMatch(/127\.0\.0\.1/);
    expect(m.send).toBe(srv.chsk.send);
    // send from the event-msg pushes like the server's send
    m.send('alice', ['test/pushed', 3]);
    await c.next((x) => Array.isArray(x) && Array.isArray(x[0]) && x[0][0] !== 'chsk/handshake');
    expect(pushedEvents(c)).toEqual([['test/pushed', 3]]);
    m.reply?.('done');
    expect(await c.next((x) => Array.isArray(x) && x[1] === 'f1')).toEqual(['done', 'f1']);
    await c.close();
  });

  it('an event without data has data undefined and a 1-element event', async () => {
    srv = await fx.startServer();
    const c = rawWs(srv.port, { uid: 'alice' });
    await c.handshake();
    c.sendJson([['test/bare'], null]);
    const m = await srv.next('test/bare');
    expect(m.event).toEqual(['test/bare']);
    expect(m.event.length).toBe(1);
    expect(m.data).toBeUndefined();
    await c.close();
  });

  it('over Ajax POST: request.transport ajax, method POST, the POST url and headers; reply answers the POST', async () => {
    srv = await fx.startServer();
    srv.chsk.recv$.subscribe((m) => {
      if (m.id === 'test/ajax') {
        m.reply?.({ got: m.data });
        m.reply?.('ignored');
      }
    });
    const clientId = freshClientId('ajax');
    const path = chskPath({ 'client-id': clientId, uid: 'bob' });
    const r = await httpRequest(srv.port, {
      method: 'POST',
      path,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', 'X-Custom': 'ajax-hdr' },
      body: JSON.stringify([['test/ajax', 5], 'ajax']),
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual([{ got: 5 }, null]);
    const m = await srv.next('test/ajax');
    expect(m.uid).toBe('bob');
    expect(m.clientId).toBe(clientId);
    expect(m.request.transport).toBe('ajax');
    expect(m.request.method).toBe('POST');
    expect(m.request.url).toBe(path);
    expect(m.request.headers['x-custom']).toBe('ajax-hdr');
    expect(m.send).toBe(srv.chsk.send);
  });

  it('over Ajax POST without a cbId: no reply function, and the answer is chsk/dummy-cb-200 at once', async () => {
    srv = await fx.startServer();
    const r = await httpRequest(srv.port, {
      method: 'POST',
      path: chskPath({ 'client-id': freshClientId('ajax'), uid: 'bob' }),
      body: JSON.stringify([['test/fire', 1], null]),
    });
    expect(JSON.parse(r.body)).toEqual(['chsk/dummy-cb-200', null]);
    const m = await srv.next('test/fire');
    expect('reply' in m).toBe(false);
  });

  it('an Ajax POST that wants a reply and gets none is answered chsk/timeout after lpTimeoutMs; a late reply is ignored', async () => {
    const clock = new ManualScheduler();
    srv = await fx.startServer({ lpTimeoutMs: 150, scheduler: clock });
    const held: ServerEventMsg[] = [];
    srv.chsk.recv$.subscribe((m) => m.id === 'test/slow' && held.push(m));
    let answered = false;
    const post = httpRequest(srv.port, {
      method: 'POST',
      path: chskPath({ 'client-id': freshClientId('ajax'), uid: 'bob' }),
      body: JSON.stringify([['test/slow'], 'ajax']),
    }).finally(() => (answered = true));
    await srv.next('test/slow'); // held, its lpTimeoutMs timer set
    clock.advance(149);
    await new Promise((r) => setImmediate(r));
    expect(answered).toBe(false);
    clock.advance(1);
    const r = await post;
    expect(JSON.parse(r.body)).toEqual(['chsk/timeout', null]);
    expect(() => held[0]!.reply!('late')).not.toThrow();
  });

  it('the real client: a reply round-trips, and a request without timeoutMs reaches the handler without reply', async () => {
    srv = await fx.startServer();
    const seen: ServerEventMsg[] = [];
    srv.chsk.recv$.subscribe((m) => {
      if (!m.id.startsWith('test/')) return;
      seen.push(m);
      m.reply?.({ echoed: m.data });
    });
    const c = client(srv.port, { uid: 'carol' });
    try {
      await whenOpen(c);
      expect(await firstValueFrom(c.send(['test/rt', 1], { timeoutMs: 2_000 }))).toEqual({ echoed: 1 });
      await firstValueFrom(c.send(['test/fire', 2]), { defaultValue: undefined });
      await srv.next('test/fire');
      expect(seen.map((m) => [m.id, typeof m.reply, m.uid, m.request.transport])).toEqual([
        ['test/rt', 'function', 'carol', 'ws'],
        ['test/fire', 'undefined', 'carol', 'ws'],
      ]);
    } finally {
      c.close();
    }
  });
});
