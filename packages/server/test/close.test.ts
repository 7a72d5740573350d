/**
 * close(): every WebSocket gets 1001, held Ajax requests are answered, recv$ and connectedUids$
 * complete, and no timer is left behind (the process could exit).
 */
import { describe, expect, it } from 'vitest';
import { chskPath, freshClientId, httpRequest, type HttpResult, type RawWs, rawWs, type TestServer, useFixtures } from '@sente-rx/fixtures';

/** Active (ref'd) timers in this process. */
const activeTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('close()', () => {
  const fx = useFixtures();
  let srv: TestServer | undefined;

  it('sends 1001 to every socket, answers held polls, completes recv$ and connectedUids$', async () => {
    // The Ajax grace stays long: it runs between the handshake and the first poll, and a 50 ms one
    // expired there on a loaded machine, so the poll became a second handshake and no
    // uidport-open came (the 5.3 s timeout this test used to show).
    srv = await fx.startServer({ reconnectGraceMs: { ws: 50, ajax: 10_000 } });
    let recvDone = false;
    let uidsDone = false;
    const errors: unknown[] = [];
    srv.chsk.recv$.subscribe({ complete: () => (recvDone = true), error: (e: unknown) => errors.push(e) });
    srv.chsk.connectedUids$.subscribe({ complete: () => (uidsDone = true), error: (e: unknown) => errors.push(e) });
    const sockets: RawWs[] = [rawWs(srv.port, { uid: 'alice' }), rawWs(srv.port, { uid: 'alice' }), rawWs(srv.port, { uid: 'bob' }), rawWs(srv.port)];
    await Promise.all(sockets.map((s) => s.handshake()));

    // an Ajax client with a poll held
    const path = chskPath({ 'client-id': freshClientId('ajax'), uid: 'carol' });
    await httpRequest(srv.port, { path: `${path}&handshake%3F=1` });
    const poll = httpRequest(srv.port, { path });
    await srv.next('chsk/uidport-open', (m) => m.data === 'carol');

    await srv.chsk.close();
    expect(await Promise.all(sockets.map((s) => s.closed))).toEqual(sockets.map(() => ({ code: 1001, reason: 'server closing' })));
    const answered = await poll;
    expect(answered.status).toBe(200);
    expect(JSON.parse(answered.body)).toEqual(['chsk/timeout', null]);
    expect(recvDone).toBe(true);
    expect(uidsDone).toBe(true);
    expect(errors).toEqual([]);
    // the closing sockets produced no uidport-close
    const ids: string[] = [];
    srv.received.subscribe((m) => ids.push(m.id)).unsubscribe();
    expect(ids.filter((id) => id === 'chsk/uidport-close')).toEqual([]);
  });

  it('after close: new Ajax requests get 503, send() is a no-op, late subscribers see recv$ complete', async () => {
    srv = await fx.startServer();
    await srv.chsk.close();
    const get = await httpRequest(srv.port, { path: chskPath({ 'client-id': 'c1' }) });
    expect({ status: get.status, body: get.body }).toEqual({ status: 503, body: 'Server closing' });
    const post = await httpRequest(srv.port, { method: 'POST', path: chskPath({ 'client-id': 'c1' }), body: '[["test/x"],null]' });
    expect(post.status).toBe(503);
    expect(() => srv!.chsk.send('alice', ['test/x', 1])).not.toThrow();
    let completed = false;
    srv.chsk.recv$.subscribe({ complete: () => (completed = true) });
    expect(completed).toBe(true);
  });

  it('leaves no timers behind: keep-alive sweep, send buffers, grace periods and held polls are all released', async () => {
    const before = activeTimers();
    // Every timer is longer than the test's timeout (20 s): if stop() waited for one, the test times out.
    srv = await fx.startServer({ wsKeepAliveMs: 1_000, batching: 'window', sendBufMs: { ws: 50_000, ajax: 50_000 }, reconnectGraceMs: { ws: 50_000, ajax: 50_000 }, lpTimeoutMs: 50_000 });
    const a = rawWs(srv.port, { uid: 'alice' });
    const b = rawWs(srv.port, { uid: 'bob' });
    await Promise.all([a.handshake(), b.handshake()]);
    srv.chsk.send('alice', ['test/buffered', 1]); // a 50 s send-buffer timer
    await b.close(); // a 50 s grace timer
    await srv.next('chsk/uidport-open', (m) => m.data === 'bob');
    const path = chskPath({ 'client-id': freshClientId('ajax'), uid: 'carol' });
    await httpRequest(srv.port, { path: `${path}&handshake%3F=1` }); // an Ajax grace timer
    const poll = httpRequest(srv.port, { path }); // a 50 s long-poll timer
    await srv.next('chsk/uidport-open', (m) => m.data === 'carol');
    expect(activeTimers()).toBeGreaterThan(before);

    // stop() does not wait for any of those 50 s timers: awaited, not raced against a wall-clock window
    await srv.stop();
    await a.closed;
    await poll;
    // At most the baseline: a timer left by an earlier test (an HTTP keep-alive)
    // may have ended meanwhile, so the count can drop below it, never rise above it.
    expect(activeTimers()).toBeLessThanOrEqual(before);
  });

  it('answers an Ajax POST still waiting for its reply, instead of holding it for lpTimeoutMs', async () => {
    srv = await fx.startServer({ lpTimeoutMs: 50_000 }); // longer than the test: only close() can answer the POST in time
    srv.chsk.recv$.subscribe(() => undefined); // a handler that never replies
    const post = httpRequest(srv.port, {
      method: 'POST',
      path: chskPath({ 'client-id': freshClientId('ajax'), uid: 'dana' }),
      body: JSON.stringify([['test/never-replied'], 'ajax']),
    });
    const m = await srv.next('test/never-replied');
    expect(typeof m.reply).toBe('function');
    const timersWithPost = activeTimers();
    await srv.chsk.close();
    const res: HttpResult = await post; // answered by close(), or the test times out
    const failed = res.status >= 500 || ['chsk/timeout', 'chsk/closed', 'chsk/error'].includes(JSON.parse(res.body)[0]);
    expect(failed).toBe(true);
    // and its lpTimeoutMs timer is gone (the keep-alive sweep's is too)
    expect(activeTimers()).toBeLessThanOrEqual(timersWithPost - 2);
    expect(() => m.reply!('too late')).not.toThrow();
  });

  it('a second close() resolves only once the server is closed', async () => {
    srv = await fx.startServer();
    let recvDone = false;
    srv.chsk.recv$.subscribe({ complete: () => (recvDone = true) });
    const c = rawWs(srv.port, { uid: 'alice' });
    await c.handshake();
    const first = srv.chsk.close();
    const second = srv.chsk.close();
    await second;
    expect(recvDone).toBe(true);
    await first;
    expect((await c.closed).code).toBe(1001);
  });
});
