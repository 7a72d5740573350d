/**
 * Server→client requests (WIRE-REQUESTS.md, PROTOCOL.md §8), spoken to by raw clients: the request
 * arrives inside a push batch as ["chsk/req", [reqId, event]]; the client answers with the event
 * ["chsk/reply", [reqId, value]] (or [reqId, null, "chsk/error", issues?]) and no cbId. Time is the
 * server's ManualScheduler: timeouts and grace periods expire only when the test advances it.
 */
import { describe, expect, it } from 'vitest';
import { ChskError, isChskError } from '@sente-rx/core';
import type { ServerOptions } from '@sente-rx/server';
import { chskPath, freshClientId, httpRequest, ManualScheduler, type RawWs, recordingLogger, type TestServer, useFixtures } from '@sente-rx/fixtures';
import type { IncomingMessage } from 'node:http';
import { defer, firstValueFrom, type Observable, retry } from 'rxjs';

type Req = [string, [string, unknown]];

/** The first `chsk/req` entry pushed to a raw WebSocket client. */
async function nextReq(raw: RawWs): Promise<Req> {
  const isReq = (e: unknown): boolean => Array.isArray(e) && e[0] === 'chsk/req';
  const m = (await raw.next((x) => Array.isArray(x) && x[1] === null && Array.isArray(x[0]) && (x[0] as unknown[]).some(isReq))) as [unknown[], null];
  return m[0].find(isReq) as Req;
}

/** What an Observable settles with, as a value: `{ value }` or `{ error }`. */
function outcome<T>(o: Observable<T>): { readonly settled: Promise<{ value?: T; error?: unknown }>; readonly now: () => { value?: T; error?: unknown } | undefined } {
  let result: { value?: T; error?: unknown } | undefined;
  const settled = new Promise<{ value?: T; error?: unknown }>((resolve) => {
    o.subscribe({
      next: (value) => {
        result = { value };
        resolve(result);
      },
      error: (error: unknown) => {
        result = { error };
        resolve(result);
      },
    });
  });
  return { settled, now: () => result };
}

describe('server→client requests', () => {
  const fx = useFixtures();
  const clock = (): ManualScheduler => new ManualScheduler();
  const start = (opts: ServerOptions<IncomingMessage> = {}): Promise<TestServer> => fx.startServer({ sendBufMs: { ws: 0, ajax: 0 }, ...opts });

  it('over WebSocket: the request rides in a push batch; the reply settles the Observable and it completes', async () => {
    const srv = await start();
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    let completed = false;
    const values: unknown[] = [];
    const done = new Promise<void>((resolve) =>
      srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/confirm', { q: 'sure?' }], { timeoutMs: 5_000 }).subscribe({
        next: (v) => values.push(v),
        complete: () => {
          completed = true;
          resolve();
        },
      }),
    );
    const [id, [reqId, event]] = await nextReq(tab);
    expect(id).toBe('chsk/req');
    expect(typeof reqId).toBe('string');
    expect(reqId.length).toBeGreaterThan(0);
    expect(reqId.length).toBeLessThanOrEqual(64);
    expect(event).toEqual(['app/confirm', { q: 'sure?' }]);
    tab.sendJson([['chsk/reply', [reqId, { yes: true }]], null]);
    await done;
    expect(values).toEqual([{ yes: true }]);
    expect(completed).toBe(true);
  });

  it('keeps per-client order with pushes: a push, the request and a push arrive in that order', async () => {
    const srv = await start({ sendBufMs: { ws: 20 } });
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    srv.chsk.send('alice', ['test/before', 1]);
    srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/ask'], { timeoutMs: 5_000 }).subscribe({ error: () => undefined });
    srv.chsk.send('alice', ['test/after', 2]);
    const req = await nextReq(tab);
    const batch = tab.received.find((m) => Array.isArray(m) && m[1] === null && Array.isArray(m[0]) && (m[0] as unknown[]).includes(req)) as [unknown[], null];
    expect(batch[0]).toEqual([['test/before', 1], req, ['test/after', 2]]);
  });

  it('over Ajax: the request comes in a poll response, the reply is a POST answered with chsk/dummy-cb-200', async () => {
    const srv = await start({ reconnectGraceMs: { ajax: 10_000 } });
    const clientId = freshClientId('ajax');
    const path = chskPath({ 'client-id': clientId, uid: 'carol' });
    await httpRequest(srv.port, { path: `${path}&handshake%3F=1` });
    const poll = httpRequest(srv.port, { path });
    await srv.next('chsk/uidport-open', (m) => m.data === 'carol');
    const result = outcome(srv.chsk.request({ uid: 'carol', clientId }, ['app/pick', [1, 2, 3]], { timeoutMs: 5_000 }));
    const body = JSON.parse((await poll).body) as [[Req], null];
    const [[id, [reqId, event]]] = body[0];
    expect(id).toBe('chsk/req');
    expect(event).toEqual(['app/pick', [1, 2, 3]]);
    const post = await httpRequest(srv.port, { method: 'POST', path, body: JSON.stringify([['chsk/reply', [reqId, 2]], null]) });
    expect(post.status).toBe(200);
    expect(JSON.parse(post.body)).toEqual(['chsk/dummy-cb-200', null]);
    expect(await result.settled).toEqual({ value: 2 });
  });

  it('times out with chsk/timeout exactly at timeoutMs (server clock); a late reply is then ignored', async () => {
    const t = clock();
    const logger = recordingLogger();
    const srv = await start({ scheduler: t, logger });
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    const result = outcome(srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/slow'], { timeoutMs: 1_000 }));
    const [, [reqId]] = await nextReq(tab);
    t.advance(999);
    expect(result.now()).toBeUndefined();
    t.advance(1);
    const { error } = await result.settled;
    expect(isChskError(error, 'chsk/timeout')).toBe(true);
    tab.sendJson([['chsk/reply', [reqId, 'too late']], null]);
    await logger.waitFor((e) => e.msg.includes('ignored a chsk/reply for no request'));
    expect(result.now()).toEqual({ error });
  });

  it('is eager; defer(() => request(…)).pipe(retry(1)) asks again after a timeout', async () => {
    const t = clock();
    const srv = await start({ scheduler: t });
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    const result = outcome(defer(() => srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/ask', 1], { timeoutMs: 100 })).pipe(retry(1)));
    const [, [first]] = await nextReq(tab);
    t.advance(100); // the first attempt times out; retry subscribes again: a second chsk/req
    const reqs = (): unknown[] => tab.received.flatMap((m) => (Array.isArray(m) && m[1] === null && Array.isArray(m[0]) ? (m[0] as unknown[]) : [])).filter((e) => Array.isArray(e) && e[0] === 'chsk/req');
    await tab.next(() => reqs().length === 2);
    const second = (reqs()[1] as Req)[1][0];
    expect(second).not.toBe(first);
    tab.sendJson([['chsk/reply', [second, 'ok']], null]);
    expect(await result.settled).toEqual({ value: 'ok' });
  });

  it('fails with chsk/closed when the client leaves for good (grace expired), not before', async () => {
    const t = clock();
    const logger = recordingLogger();
    const srv = await start({ scheduler: t, logger, reconnectGraceMs: { ws: 500 } });
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    const result = outcome(srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/ask'], { timeoutMs: 60_000 }));
    await nextReq(tab);
    await tab.close();
    await logger.waitFor((e) => e.msg === 'sente-rx: WebSocket closed'); // the grace period runs from now
    t.advance(499);
    expect(result.now()).toBeUndefined();
    t.advance(1);
    const { error } = await result.settled;
    expect(isChskError(error, 'chsk/closed')).toBe(true);
  });

  it('fails at once with chsk/closed for a client that is not connected', async () => {
    const srv = await start();
    const { error } = await outcome(srv.chsk.request({ uid: 'nobody', clientId: 'c1' }, ['app/ask'], { timeoutMs: 5_000 })).settled;
    expect(isChskError(error, 'chsk/closed')).toBe(true);
  });

  it('unsubscribing drops the pending entry: the reply that comes later settles nothing', async () => {
    const logger = recordingLogger();
    const srv = await start({ logger });
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    const seen: unknown[] = [];
    const sub = srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/ask'], { timeoutMs: 5_000 }).subscribe({ next: (v) => seen.push(v), error: (e: unknown) => seen.push(e) });
    const [, [reqId]] = await nextReq(tab);
    sub.unsubscribe();
    tab.sendJson([['chsk/reply', [reqId, 'answer']], null]);
    await logger.waitFor((e) => e.msg.includes('request nobody waits for'));
    expect(seen).toEqual([]);
  });

  it('a client refusal becomes chsk/error carrying the issues it reported (bounded)', async () => {
    const srv = await start();
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    const result = outcome(srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/ask'], { timeoutMs: 5_000 }));
    const [, [reqId]] = await nextReq(tab);
    const many = Array.from({ length: 100 }, (_, i) => ({ path: ['items', i, { evil: true }], message: 'x'.repeat(2_000) }));
    tab.sendJson([['chsk/reply', [reqId, null, 'chsk/error', many]], null]);
    const { error } = await result.settled;
    expect(error).toBeInstanceOf(ChskError);
    const e = error as ChskError;
    expect(e.code).toBe('chsk/error');
    expect(e.issues).toHaveLength(20);
    expect(e.issues?.[3]).toEqual({ path: ['items', 3], message: 'x'.repeat(500) });
  });

  it('only the client asked may answer: another tab’s reply with the same reqId is ignored', async () => {
    const logger = recordingLogger();
    const srv = await start({ logger });
    const tab1 = fx.rawWs(srv.port, { uid: 'alice' });
    const tab2 = fx.rawWs(srv.port, { uid: 'alice' });
    await tab1.handshake();
    await tab2.handshake();
    const result = outcome(srv.chsk.request({ uid: 'alice', clientId: tab1.clientId }, ['app/ask'], { timeoutMs: 5_000 }));
    const [, [reqId]] = await nextReq(tab1);
    tab2.sendJson([['chsk/reply', [reqId, 'forged']], null]);
    await logger.waitFor((e) => e.msg.includes('ignored a chsk/reply for no request of this client'));
    expect(result.now()).toBeUndefined();
    tab1.sendJson([['chsk/reply', [reqId, 'real']], null]);
    expect(await result.settled).toEqual({ value: 'real' });
  });

  it('malformed chsk/reply payloads are logged and ignored; the socket stays open', async () => {
    const logger = recordingLogger();
    const srv = await start({ logger });
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    tab.sendJson([['chsk/reply', 'not-an-array'], null]);
    tab.sendJson([['chsk/reply', [42, 'x']], null]);
    await logger.waitFor((e) => e.msg.includes('malformed chsk/reply') && logger.entries.filter((x) => x.msg.includes('malformed')).length === 2);
    tab.sendJson([['test/still-open', 1], null]);
    expect((await srv.next('test/still-open')).data).toBe(1);
  });

  it('server close() fails every pending request with chsk/closed', async () => {
    const srv = await start();
    const tab = fx.rawWs(srv.port, { uid: 'alice' });
    await tab.handshake();
    const result = outcome(srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/ask'], { timeoutMs: 60_000 }));
    await nextReq(tab);
    await srv.stop();
    const { error } = await result.settled;
    expect(isChskError(error, 'chsk/closed')).toBe(true);
    const after = await firstValueFrom(srv.chsk.request({ uid: 'alice', clientId: tab.clientId }, ['app/ask'], { timeoutMs: 1 })).catch((e: unknown) => e);
    expect(isChskError(after, 'chsk/closed')).toBe(true);
  });

  it('refuses bad arguments synchronously with a TypeError', async () => {
    const srv = await start();
    const request = srv.chsk.request as (t: unknown, e: unknown, o: unknown) => unknown;
    expect(() => request('alice', ['app/x'], { timeoutMs: 1 })).toThrow(TypeError);
    expect(() => request({ uid: 'alice', clientId: 'c' }, ['chsk/ws-ping'], { timeoutMs: 1 })).toThrow(TypeError);
    expect(() => request({ uid: 'alice', clientId: 'c' }, ['app/x'], {})).toThrow(/timeoutMs/);
    expect(() => request({ uid: 'alice', clientId: 'c' }, ['app/x'], { timeoutMs: Infinity })).toThrow(/timeoutMs/);
    expect(() => request({ uid: 'alice', clientId: 'c' }, ['app/x'], undefined)).toThrow(/timeoutMs/);
  });
});
