/**
 * The server with a contract (`events`): incoming client events are validated before recv$ sees
 * them (a refused request gets the issues, then 'chsk/error'; a refused push is logged and
 * dropped), including data crafted to pass a naive check; client replies to server requests are
 * validated against the contract's reply schema.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ChskError, defineEvents } from '@sente-rx/core';
import type { ServerOptions } from '@sente-rx/server';
import { chskPath, freshClientId, httpRequest, type RawWs, recordingLogger, type TestServer, useFixtures } from '@sente-rx/fixtures';
import type { IncomingMessage } from 'node:http';

const events = defineEvents({
  client: {
    'chat/post': { data: z.strictObject({ text: z.string().max(100), tags: z.array(z.string()).max(10) }), reply: z.object({ id: z.number() }) },
    'chat/typing': { data: z.object({ room: z.string(), who: z.object({ name: z.string() }) }) },
    'chat/trim': { data: z.string().transform((s) => s.trim()) },
    'chat/loose': { data: z.object({ text: z.string() }) },
  },
  server: {
    'app/confirm': { data: z.object({ q: z.string() }), reply: z.boolean() },
    'app/note': { data: z.string() },
  },
});

describe('server with a contract', () => {
  const fx = useFixtures();
  // The fixture's options type is the untyped one; `events` passes through to createChannelSocketServer.
  const start = (opts: ServerOptions<IncomingMessage> = {}): Promise<TestServer> => fx.startServer({ sendBufMs: { ws: 0 }, logger: recordingLogger(), ...opts, events } as ServerOptions<IncomingMessage>);

  const open = async (srv: TestServer, uid = 'alice'): Promise<RawWs> => {
    const c = fx.rawWs(srv.port, { uid });
    await c.handshake();
    return c;
  };

  /** The issues pushed ahead of the chsk/error reply for `cbId`. */
  const issuesFor = async (raw: RawWs, cbId: string): Promise<unknown> => {
    const m = (await raw.next((x) => Array.isArray(x) && x[1] === null && Array.isArray(x[0]) && Array.isArray(x[0][0]) && x[0][0][0] === 'chsk/issues')) as [[[string, [string, unknown]]], null];
    expect(m[0][0][1][0]).toBe(cbId);
    return m[0][0][1][1];
  };

  it('a valid request reaches recv$ with the schema output and its reply goes back', async () => {
    const srv = await start();
    srv.chsk.recv$.subscribe((m) => {
      if (m.id === 'chat/post') m.reply?.({ id: (m.data as { text: string }).text.length });
    });
    const c = await open(srv);
    expect(await c.request(['chat/post', { text: 'hello', tags: [] }], 'cb1')).toEqual({ id: 5 });
    c.sendJson([['chat/trim', '  padded  '], null]);
    expect((await srv.next('chat/trim')).data).toBe('padded');
  });

  it('extra keys in a strict object: the request fails with chsk/error, the issues arrive first, recv$ sees nothing', async () => {
    const logger = recordingLogger();
    const srv = await start({ logger });
    const c = await open(srv);
    const reply = c.request(['chat/post', { text: 'hi', tags: [], admin: true }], 'cb2');
    const issues = await issuesFor(c, 'cb2');
    expect(await reply).toBe('chsk/error');
    expect(issues).toEqual([expect.objectContaining({ path: [], message: expect.stringMatching(/admin/) as unknown })]);
    expect(logger.entries.some((e) => e.level === 'warn' && e.msg.includes('contract refuses'))).toBe(true);
    // The sentinel: a valid event sent after it is the first chat/* msg recv$ carries.
    c.sendJson([['chat/trim', 'x'], null]);
    await srv.next('chat/trim');
    expect(await firstChat(srv)).toBe('chat/trim');
  });

  it('wrong nested types without a reply are logged and dropped', async () => {
    const logger = recordingLogger();
    const srv = await start({ logger });
    const c = await open(srv);
    c.sendJson([['chat/typing', { room: 'r1', who: { name: 42 } }], null]);
    const warn = await logger.waitFor((e) => e.msg.includes('contract refuses'));
    expect(warn.data?.['issues']).toMatch(/who\.name/);
    expect(warn.data?.['replied']).toBe(false);
    c.sendJson([['chat/typing', { room: 'r1', who: { name: 'bo' } }], null]);
    const ok = await srv.next('chat/typing');
    expect(ok.data).toEqual({ room: 'r1', who: { name: 'bo' } });
    expect(await firstChat(srv)).toBe('chat/typing');
  });

  it('a huge array is refused and the issues sent back are bounded', async () => {
    const srv = await start();
    const c = await open(srv);
    const tags = Array.from({ length: 50_000 }, () => 7); // wrong type AND too long: one issue per element
    const reply = c.request(['chat/post', { text: 'x', tags }], 'cb3');
    const issues = (await issuesFor(c, 'cb3')) as unknown[];
    expect(await reply).toBe('chsk/error');
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.length).toBeLessThanOrEqual(20);
  });

  it('__proto__ keys: refused by a strict object, stripped by a plain one, and nothing is polluted', async () => {
    const srv = await start();
    const c = await open(srv);
    // Hand-written JSON: JSON.parse makes "__proto__" an own key, as a hostile client would send it.
    c.ws.send('[["chat/post",{"text":"a","tags":[],"__proto__":{"polluted":true}}],"cb4"]');
    expect(await c.next((m) => Array.isArray(m) && m[1] === 'cb4')).toEqual(['chsk/error', 'cb4']);
    c.ws.send('[["chat/loose",{"text":"b","__proto__":{"polluted":true}}],null]');
    const loose = await srv.next('chat/loose');
    expect(loose.data).toEqual({ text: 'b' });
    expect(Object.hasOwn(loose.data as object, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(await firstChat(srv)).toBe('chat/loose'); // the refused chat/post never reached recv$
  });

  it('unknown ids and a reply asked of an event that declares none are validation failures', async () => {
    const srv = await start();
    const c = await open(srv);
    expect(await c.request(['chat/unknown', 1], 'cb5')).toBe('chsk/error');
    expect(await c.request(['chat/typing', { room: 'r', who: { name: 'a' } }], 'cb6')).toBe('chsk/error');
  });

  it('over Ajax a refused request is answered "chsk/error" (no issues on that transport)', async () => {
    const srv = await start();
    const path = chskPath({ 'client-id': freshClientId('ajax'), uid: 'bob' });
    const r = await httpRequest(srv.port, { method: 'POST', path, body: JSON.stringify([['chat/post', { text: 1 }], 'ajax']) });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual(['chsk/error', null]);
  });

  it('a client reply to a server request is validated against the reply schema', async () => {
    const srv = await start();
    const c = await open(srv);
    const ask = (): Promise<unknown> =>
      new Promise((resolve) => srv.chsk.request({ uid: 'alice', clientId: c.clientId }, ['app/confirm', { q: '?' }], { timeoutMs: 5_000 }).subscribe({ next: resolve, error: resolve }));
    const reqIdOf = async (n: number): Promise<string> => {
      const reqs = (): [string, [string, unknown]][] =>
        c.received.flatMap((m) => (Array.isArray(m) && m[1] === null && Array.isArray(m[0]) ? (m[0] as unknown[]) : [])).filter((e): e is [string, [string, unknown]] => Array.isArray(e) && e[0] === 'chsk/req');
      await c.next(() => reqs().length >= n);
      return reqs()[n - 1]![1][0];
    };
    const bad = ask();
    c.sendJson([['chsk/reply', [await reqIdOf(1), 'yes']], null]);
    const err = await bad;
    expect(err).toBeInstanceOf(ChskError);
    expect((err as ChskError).code).toBe('chsk/error');
    expect((err as ChskError).issues?.length).toBeGreaterThan(0);
    const good = ask();
    c.sendJson([['chsk/reply', [await reqIdOf(2), true]], null]);
    expect(await good).toBe(true);
  });
});

/** The id of the first app (chat/*) event recv$ carried. */
async function firstChat(srv: TestServer): Promise<string | undefined> {
  let first: string | undefined;
  srv.received.subscribe((m) => (first ??= m.id.startsWith('chat/') ? m.id : undefined)).unsubscribe();
  return first;
}
