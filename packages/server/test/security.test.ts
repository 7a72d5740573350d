/**
 * The rejection pipeline (PROTOCOL.md §5, Sente §4.9) on every entry point: the WebSocket upgrade,
 * the Ajax GET (handshake/poll) and the Ajax POST. Requests are made by hand so headers (Origin,
 * Referer, Host, the CSRF headers) are exactly what each case says.
 */
import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { SKIP_CSRF_CHECK, type ServerOptions } from '@sente-rx/server';
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { chskPath, freshClientId, httpRequest, type HttpResult, rawWs, recordingLogger, type TestServer, wsUpgrade, useFixtures } from '@sente-rx/fixtures';

type Transport = 'ws' | 'ajax-get' | 'ajax-post';
const TRANSPORTS: readonly Transport[] = ['ws', 'ajax-get', 'ajax-post'];

interface Attempt {
  /** Query parameters besides client-id (pass `'client-id': undefined` to leave it out). */
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** One request through the pipeline on `transport`; a passed request is normalised to `{ status: 'ok' }` after checking what it got. */
async function attempt(transport: Transport, port: number, a: Attempt = {}): Promise<{ status: number | 'ok'; body: string; result: HttpResult }> {
  const path = chskPath({ 'client-id': freshClientId('sec'), ...a.query });
  let r: HttpResult;
  let passed: boolean;
  if (transport === 'ws') {
    r = await wsUpgrade(port, { path, headers: a.headers ?? {} });
    passed = r.status === 101;
    if (passed) expect(JSON.parse(r.body)[0][0]).toBe('chsk/handshake');
  } else if (transport === 'ajax-get') {
    r = await httpRequest(port, { path: `${path}${path.includes('?') ? '&' : '?'}handshake%3F=1`, headers: a.headers ?? {} });
    passed = r.status === 200;
    if (passed) expect(JSON.parse(r.body)[0][0]).toBe('chsk/handshake');
  } else {
    r = await httpRequest(port, {
      method: 'POST',
      path,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...a.headers },
      body: JSON.stringify([['test/ping', 1], null]),
    });
    passed = r.status === 200;
    if (passed) expect(JSON.parse(r.body)).toEqual(['chsk/dummy-cb-200', null]);
  }
  return { status: passed ? 'ok' : r.status, body: passed ? '' : r.body, result: r };
}

const BAD_CSRF = { status: 403, body: 'Bad CSRF token' };
const BAD_ORIGIN = { status: 403, body: 'Unauthorized origin' };
const UNAUTHORIZED = { status: 401, body: 'Unauthorized request' };
const OK = { status: 'ok', body: '' };
const outcome = (r: { status: number | 'ok'; body: string }): { status: number | 'ok'; body: string } => ({ status: r.status, body: r.body });

describe.each(TRANSPORTS)('rejection pipeline over %s', (transport) => {
  const fx = useFixtures();
  let srv: TestServer | undefined;
  const start = async (o: ServerOptions<IncomingMessage>): Promise<TestServer> => (srv = await fx.startServer(o));
  const go = async (a: Attempt = {}) => outcome(await attempt(transport, srv!.port, a));

  describe('CSRF', () => {
    const csrf = { csrfToken: () => 'tok-123' } as const;

    it('accepts the token in the csrf-token query parameter', async () => {
      await start(csrf);
      expect(await go({ query: { 'csrf-token': 'tok-123' } })).toEqual(OK);
    });

    it('accepts the token in the X-CSRF-Token header', async () => {
      await start(csrf);
      expect(await go({ headers: { 'X-CSRF-Token': 'tok-123' } })).toEqual(OK);
    });

    it('accepts the token in the X-XSRF-Token header', async () => {
      await start(csrf);
      expect(await go({ headers: { 'X-XSRF-Token': 'tok-123' } })).toEqual(OK);
    });

    it('refuses a wrong token (same length, a prefix, a longer one) with 403', async () => {
      await start(csrf);
      expect(await go({ query: { 'csrf-token': 'tok-124' } })).toEqual(BAD_CSRF);
      expect(await go({ headers: { 'X-CSRF-Token': 'tok-12' } })).toEqual(BAD_CSRF);
      expect(await go({ headers: { 'X-XSRF-Token': 'tok-1234' } })).toEqual(BAD_CSRF);
    });

    it('refuses a missing token with 403', async () => {
      await start(csrf);
      expect(await go()).toEqual(BAD_CSRF);
    });

    it('takes the query parameter before the headers (a bad query token is not rescued by a good header)', async () => {
      await start(csrf);
      expect(await go({ query: { 'csrf-token': 'nope' }, headers: { 'X-CSRF-Token': 'tok-123' } })).toEqual(BAD_CSRF);
      expect(await go({ headers: { 'X-CSRF-Token': 'nope', 'X-XSRF-Token': 'tok-123' } })).toEqual(BAD_CSRF);
    });

    it('refuses every request when there is no csrfToken option, even one carrying a token', async () => {
      const logger = recordingLogger();
      await start({ csrfToken: undefined, logger });
      expect(await go({ query: { 'csrf-token': 'anything' } })).toEqual(BAD_CSRF);
      expect(await go()).toEqual(BAD_CSRF);
      // and it said so at construction
      expect(logger.entries.some((e) => e.level === 'warn' && /csrfToken/.test(e.msg))).toBe(true);
    });

    it('refuses when the reference token is null or empty, whatever the client sends', async () => {
      await start({ csrfToken: (req) => (new URL(req.url ?? '/', 'http://x').searchParams.get('ref') === 'empty' ? '' : null) });
      expect(await go({ query: { ref: 'null', 'csrf-token': 'null' } })).toEqual(BAD_CSRF);
      expect(await go({ query: { ref: 'empty', 'csrf-token': '' } })).toEqual(BAD_CSRF);
      expect(await go({ query: { ref: 'empty' } })).toEqual(BAD_CSRF);
    });

    it('passes every request when csrfToken returns SKIP_CSRF_CHECK', async () => {
      await start({ csrfToken: () => SKIP_CSRF_CHECK });
      expect(await go()).toEqual(OK);
      expect(await go({ query: { 'csrf-token': 'whatever' } })).toEqual(OK);
    });

    it('gives csrfToken the request, so the reference token can come from the session', async () => {
      const seen: string[] = [];
      await start({
        csrfToken: (req) => {
          seen.push(req.url ?? '');
          return req.headers['x-session'] === 's1' ? 'tok-s1' : 'tok-other';
        },
      });
      expect(await go({ headers: { 'X-Session': 's1', 'X-CSRF-Token': 'tok-s1' } })).toEqual(OK);
      expect(await go({ headers: { 'X-Session': 's2', 'X-CSRF-Token': 'tok-s1' } })).toEqual(BAD_CSRF);
      expect(seen.length).toBe(2);
      expect(seen.every((u) => u.startsWith('/chsk?'))).toBe(true);
    });
  });

  describe("origin: the default 'same-origin'", () => {
    it('allows an Origin whose host equals Host', async () => {
      await start({});
      expect(await go({ headers: { Host: 'site.com', Origin: 'http://site.com' } })).toEqual(OK);
      expect(await go({ headers: { Host: 'site.com', Origin: 'https://site.com' } })).toEqual(OK);
      expect(await go({ headers: { Host: 'site.com:8443', Origin: 'https://site.com:8443' } })).toEqual(OK);
      const port = srv!.port;
      expect(await go({ headers: { Origin: `http://127.0.0.1:${port}` } })).toEqual(OK);
    });

    it('refuses an Origin on another host or port', async () => {
      await start({});
      expect(await go({ headers: { Host: 'site.com', Origin: 'http://evil.com' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Host: 'site.com', Origin: 'http://site.com.evil.com' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Host: 'site.com', Origin: 'http://site.com:8080' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Host: 'site.com', Origin: 'not a url' } })).toEqual(BAD_ORIGIN);
    });

    it("refuses Origin: null (sandboxed or file:// pages), even with a same-origin Referer", async () => {
      await start({});
      expect(await go({ headers: { Host: 'site.com', Origin: 'null', Referer: 'http://site.com/page' } })).toEqual(BAD_ORIGIN);
    });

    it('without Origin, checks the Referer host against Host', async () => {
      await start({});
      expect(await go({ headers: { Host: 'site.com', Referer: 'http://site.com/chat?x=1' } })).toEqual(OK);
      expect(await go({ headers: { Host: 'site.com', Referer: 'http://evil.com/site.com/' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Host: 'site.com', Referer: 'http://site.com.evil.com/' } })).toEqual(BAD_ORIGIN);
    });

    it('allows a request with neither Origin nor Referer (a non-browser client)', async () => {
      await start({});
      expect(await go({ headers: { Host: 'site.com' } })).toEqual(OK);
    });

    it('the Origin wins over a matching Referer', async () => {
      await start({});
      expect(await go({ headers: { Host: 'site.com', Origin: 'http://evil.com', Referer: 'http://site.com/' } })).toEqual(BAD_ORIGIN);
    });
  });

  describe('origin: an explicit list', () => {
    const allowedOrigins = ['http://site.com', 'https://app.site.com:8443'];

    it('allows exactly the listed origins', async () => {
      await start({ allowedOrigins });
      expect(await go({ headers: { Origin: 'http://site.com' } })).toEqual(OK);
      expect(await go({ headers: { Origin: 'https://app.site.com:8443' } })).toEqual(OK);
    });

    it('refuses any other origin, including look-alikes and the request host itself', async () => {
      await start({ allowedOrigins });
      expect(await go({ headers: { Origin: 'http://evil.com' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Origin: 'http://site.com.evil.com' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Origin: 'https://site.com' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Origin: 'https://app.site.com' } })).toEqual(BAD_ORIGIN);
      // same host as the request, but not listed
      expect(await go({ headers: { Host: 'evil.com', Origin: 'http://evil.com' } })).toEqual(BAD_ORIGIN);
    });

    it('falls back to the Referer, which must start with a listed origin followed by "/"', async () => {
      await start({ allowedOrigins });
      expect(await go({ headers: { Referer: 'http://site.com/' } })).toEqual(OK);
      expect(await go({ headers: { Referer: 'https://app.site.com:8443/deep/page?q=1' } })).toEqual(OK);
      // prefix spoofing
      expect(await go({ headers: { Referer: 'http://site.com.evil.com/' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Referer: 'http://site.com:9999/' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Referer: 'http://site.com' } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Referer: 'http://evil.com/http://site.com/' } })).toEqual(BAD_ORIGIN);
    });

    it('refuses a request with neither Origin nor Referer', async () => {
      await start({ allowedOrigins });
      expect(await go()).toEqual(BAD_ORIGIN);
    });
  });

  describe("origin: 'all'", () => {
    it('allows any origin, a Referer from anywhere, and no headers at all', async () => {
      await start({ allowedOrigins: 'all' });
      expect(await go({ headers: { Host: 'site.com', Origin: 'http://evil.com' } })).toEqual(OK);
      expect(await go({ headers: { Origin: 'null' } })).toEqual(OK);
      expect(await go({ headers: { Referer: 'http://site.com.evil.com/' } })).toEqual(OK);
      expect(await go()).toEqual(OK);
    });
  });

  describe('authorized', () => {
    it('refuses with 401 when it returns false, and passes when it returns true', async () => {
      const seen: (string | undefined)[] = [];
      await start({
        authorized: (req) => {
          seen.push(req.headers['x-user']?.toString());
          return req.headers['x-user'] === 'ok';
        },
      });
      expect(await go({ headers: { 'X-User': 'nope' } })).toEqual(UNAUTHORIZED);
      expect(await go({ headers: { 'X-User': 'ok' } })).toEqual(OK);
      expect(seen).toEqual(['nope', 'ok']);
    });
  });

  describe('reject', () => {
    it('answers with exactly the response it returns (status, body, headers)', async () => {
      await start({ reject: () => ({ status: 429, body: 'slow down', headers: { 'Retry-After': '7', 'X-Custom': 'yes' } }) });
      const r = await attempt(transport, srv!.port);
      expect(r.status).toBe(429);
      expect(r.body).toBe('slow down');
      expect(r.result.headers['retry-after']).toBe('7');
      expect(r.result.headers['x-custom']).toBe('yes');
    });

    it('without a body, answers with the status text', async () => {
      await start({ reject: () => ({ status: 418 }) });
      expect(outcome(await attempt(transport, srv!.port))).toEqual({ status: 418, body: "I'm a Teapot" });
    });

    it('runs before the CSRF, origin and authorized checks', async () => {
      const order: string[] = [];
      await start({
        reject: () => (order.push('reject'), { status: 451, body: 'custom' }),
        csrfToken: () => (order.push('csrf'), 'tok'),
        authorized: () => (order.push('authorized'), false),
        allowedOrigins: ['http://site.com'],
      });
      // bad CSRF, bad origin and unauthorized all at once: reject's answer wins, and the others never ran
      expect(await go({ headers: { Origin: 'http://evil.com' } })).toEqual({ status: 451, body: 'custom' });
      expect(order).toEqual(['reject']);
    });

    it('a reject that returns null or undefined falls through, and cannot relax the CSRF check', async () => {
      let calls = 0;
      await start({
        reject: (req) => (calls++, req.headers['x-mode'] === 'undef' ? undefined : null),
        csrfToken: () => 'tok',
      });
      expect(await go({ headers: { 'X-Mode': 'null' } })).toEqual(BAD_CSRF);
      expect(await go({ headers: { 'X-Mode': 'undef' } })).toEqual(BAD_CSRF);
      expect(await go({ headers: { 'X-Mode': 'null', 'X-CSRF-Token': 'tok' } })).toEqual(OK);
      expect(calls).toBe(3);
    });
  });

  describe('pipeline order and client-id', () => {
    it('checks CSRF before origin, origin before authorized, authorized before client-id', async () => {
      await start({ csrfToken: () => 'tok', allowedOrigins: ['http://site.com'], authorized: () => false });
      const evil = { Origin: 'http://evil.com' };
      expect(await go({ headers: evil, query: { 'client-id': undefined } })).toEqual(BAD_CSRF);
      expect(await go({ headers: { ...evil, 'X-CSRF-Token': 'tok' }, query: { 'client-id': undefined } })).toEqual(BAD_ORIGIN);
      expect(await go({ headers: { Origin: 'http://site.com', 'X-CSRF-Token': 'tok' }, query: { 'client-id': undefined } })).toEqual(UNAUTHORIZED);
    });

    it('refuses a missing, empty or over-long (> 128) client-id with 400, and accepts 128 characters', async () => {
      await start({});
      const bad = { status: 400, body: 'Missing or invalid client-id query parameter' };
      expect(await go({ query: { 'client-id': undefined } })).toEqual(bad);
      expect(await go({ query: { 'client-id': '' } })).toEqual(bad);
      expect(await go({ query: { 'client-id': 'x'.repeat(129) } })).toEqual(bad);
      expect(await go({ query: { 'client-id': 'y'.repeat(128) } })).toEqual(OK);
    });
  });

  describe('a throwing hook', () => {
    const serving = async (): Promise<void> => {
      // another, well-behaved client is still served after the failure
      expect(await go({ query: { uid: 'fine' } })).toEqual(OK);
    };

    const boom = (on: () => boolean): void => {
      if (on()) throw new Error('boom');
    };
    const hooks: [string, (on: () => boolean) => ServerOptions<IncomingMessage>][] = [
      ['reject', (on) => ({ reject: () => (boom(on), null) })],
      ['csrfToken', (on) => ({ csrfToken: () => (boom(on), SKIP_CSRF_CHECK) })],
      ['authorized', (on) => ({ authorized: () => (boom(on), true) })],
    ];
    it.each(hooks)('%s throwing → 500, logged, and the server keeps serving', async (_name, hook) => {
      const logger = recordingLogger();
      let throwing = true;
      await start({ logger, ...hook(() => throwing) });
      expect(await go()).toEqual({ status: 500, body: 'Internal server error' });
      expect(logger.entries.some((e) => e.level === 'error' && (e.data?.['err'] as Error | undefined)?.message === 'boom')).toBe(true);
      throwing = false;
      await serving();
    });

    it('userId throwing → 500 over Ajax, close 1011 over WebSocket; the server keeps serving', async () => {
      const logger = recordingLogger();
      await start({
        logger,
        userId: (req) => {
          const uid = new URL(req.url ?? '/', 'http://x').searchParams.get('uid') ?? undefined;
          if (uid === 'boom') throw new Error('userId boom');
          return uid;
        },
      });
      if (transport === 'ws') {
        // the upgrade passed the pipeline; userId runs on open, and a throw closes the socket with 1011
        const c = rawWs(srv!.port, { uid: 'boom' });
        expect(await c.closed).toEqual({ code: 1011, reason: 'chsk/server-error' });
        expect(c.received).toEqual([]); // no handshake
      } else {
        expect(await go({ query: { uid: 'boom' } })).toEqual({ status: 500, body: 'Internal server error' });
      }
      expect(logger.entries.some((e) => e.level === 'error' && (e.data?.['err'] as Error | undefined)?.message === 'userId boom')).toBe(true);
      await serving();
      // the failed request never counted as a connection
      expect([...srv!.chsk.connectedUids$.getValue().any]).not.toContain('boom');
    });

    it('handshakeData throwing → 500 over Ajax GET, close 1011 over WebSocket', async () => {
      await start({
        handshakeData: (req) => {
          if (req.url?.includes('uid=boom')) throw new Error('hs boom');
          return { motd: 'hi' };
        },
      });
      if (transport === 'ws') {
        const c = rawWs(srv!.port, { uid: 'boom' });
        expect((await c.closed).code).toBe(1011);
        const ok = rawWs(srv!.port, { uid: 'fine' });
        expect(await ok.handshake()).toEqual(['fine', { motd: 'hi' }, true]);
        await ok.close();
      } else if (transport === 'ajax-get') {
        expect(await go({ query: { uid: 'boom' } })).toEqual({ status: 500, body: 'Internal server error' });
        const r = await attempt(transport, srv!.port, { query: { uid: 'fine' } });
        expect(JSON.parse(r.result.body)).toEqual([['chsk/handshake', ['fine', null, { motd: 'hi' }, true]], null]);
      } else {
        // a POST carries no handshake, so handshakeData is not consulted
        expect(await go({ query: { uid: 'boom' } })).toEqual(OK);
      }
    });

    it('handshakeData that cannot be packed → 500 over Ajax GET, close 1011 over WebSocket', async () => {
      const logger = recordingLogger();
      await start({ logger, handshakeData: (req) => ((req.url ?? '').includes('uid=big') ? { n: 10n } : { ok: true }) });
      if (transport === 'ws') {
        const c = rawWs(srv!.port, { uid: 'big' });
        expect((await c.closed).code).toBe(1011);
        expect(c.received).toEqual([]);
      } else if (transport === 'ajax-get') {
        expect(await go({ query: { uid: 'big' } })).toEqual({ status: 500, body: 'Internal server error' });
      } else {
        expect(await go({ query: { uid: 'big' } })).toEqual(OK);
      }
      if (transport !== 'ajax-post') expect(logger.entries.some((e) => e.level === 'error')).toBe(true);
      await serving();
      expect(srv!.chsk.connectedUids$.getValue().any.has('big')).toBe(false);
    });
  });
});

describe('a refused WebSocket handshake never becomes a socket', () => {
  const fx = useFixtures();
  let srv: TestServer | undefined;

  it('403 / 401 / 400 / custom: no uidport-open, no event-msg, connectedUids$ unchanged', async () => {
    const logger = recordingLogger();
    srv = await fx.startServer({
      logger,
      csrfToken: () => 'tok',
      authorized: (req) => !(req.url ?? '').includes('uid=unauth'),
      reject: (req) => ((req.url ?? '').includes('uid=rejected') ? { status: 503, body: 'go away' } : null),
    });
    const port = srv.port;
    const uidsBefore = srv.chsk.connectedUids$.getValue();
    const emissions: unknown[] = [];
    const sub = srv.chsk.connectedUids$.subscribe((u) => emissions.push([...u.any]));

    const tries: [Record<string, string | undefined>, Record<string, string>, number, string][] = [
      [{ uid: 'badcsrf', 'csrf-token': 'wrong' }, {}, 403, 'Bad CSRF token'],
      [{ uid: 'badorigin', 'csrf-token': 'tok' }, { Host: 'site.com', Origin: 'http://evil.com' }, 403, 'Unauthorized origin'],
      [{ uid: 'unauth', 'csrf-token': 'tok' }, {}, 401, 'Unauthorized request'],
      [{ uid: 'noclient', 'csrf-token': 'tok', 'client-id': undefined }, {}, 400, 'Missing or invalid client-id query parameter'],
      [{ uid: 'rejected', 'csrf-token': 'tok' }, {}, 503, 'go away'],
    ];
    for (const [query, headers, status, body] of tries) {
      const r = await wsUpgrade(port, { path: chskPath({ 'client-id': freshClientId(), ...query }), headers });
      expect({ status: r.status, body: r.body }).toEqual({ status, body });
      expect(r.headers['connection']).toBe('close');
    }
    // The ws client sees the refusal as a failed open, not a socket.
    const viaWs = rawWs(port, { uid: 'badcsrf2', query: { 'csrf-token': 'wrong' } });
    await expect(viaWs.opened).rejects.toThrow('handshake refused: 403');
    await viaWs.closed;

    // A good client afterwards: its uidport-open is the first and only one.
    const good = rawWs(port, { uid: 'good', query: { 'csrf-token': 'tok' } });
    expect((await good.handshake())[0]).toBe('good');
    await srv.next('chsk/uidport-open');
    const all: string[] = [];
    srv.received.subscribe((m) => all.push(`${m.id}:${m.uid}`)).unsubscribe(); // a ReplaySubject: replays synchronously
    expect(all).toEqual(['chsk/uidport-open:good']);
    expect(uidsBefore.any.size).toBe(0);
    expect(emissions).toEqual([[], ['good']]);
    expect([...srv.chsk.connectedUids$.getValue().ws]).toEqual(['good']);
    // every refusal was logged with its status
    expect(logger.entries.filter((e) => /refused a WebSocket handshake/.test(e.msg)).map((e) => e.data?.['status'])).toEqual([403, 403, 401, 400, 503, 403]);
    sub.unsubscribe();
    await good.close();
  });
});

describe('a WebSocket upgrade that reaches the Ajax handler', () => {
  it('gets 426 when the host did not attach()', async () => {
    const chsk = createChannelSocketServer(nodeAdapter(), { csrfToken: () => SKIP_CSRF_CHECK });
    const server = http.createServer((req, res) => chsk.ajaxGetOrWsHandshake(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      // Without `Connection: Upgrade`, node hands the request to the request handler.
      const r = await httpRequest(port, { path: chskPath({ 'client-id': 'c1' }), headers: { Upgrade: 'websocket' } });
      expect(r.status).toBe(426);
      expect(r.body).toMatch(/attach/);
    } finally {
      await chsk.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
