/**
 * Server keep-alive (PROTOCOL.md §3): a socket silent for wsKeepAliveMs/2 gets
 * ["chsk/ws-ping", null]; no answer within wsPingTimeoutMs and it is terminated (no closing
 * handshake). Client pings [["chsk/ws-ping"], cbId] get ["pong", cbId].
 */
import { describe, expect, it } from 'vitest';
import { type RawWs, rawWs, recordingLogger, type TestServer, useFixtures } from '@sente-rx/fixtures';

const KEEP_ALIVE = 200;
const PING_TIMEOUT = 200;
const isPing = (m: unknown): boolean => Array.isArray(m) && m[0] === 'chsk/ws-ping' && m[1] === null;
const pings = (c: RawWs): number => c.received.filter(isPing).length;

describe('server keep-alive', () => {
  let srv: TestServer;
  const fx = useFixtures();

  it('terminates a client that never answers the ping, and keeps one that answers', async () => {
    const logger = recordingLogger();
    srv = await fx.startServer({ logger, wsKeepAliveMs: KEEP_ALIVE, wsPingTimeoutMs: PING_TIMEOUT });
    const silent = rawWs(srv.port, { uid: 'silent' });
    const polite = rawWs(srv.port, { uid: 'polite' });
    // polite answers every server ping with the pong envelope
    polite.messages.subscribe((m) => isPing(m) && polite.sendJson([['chsk/ws-pong'], null]));
    await Promise.all([silent.handshake(), polite.handshake()]);

    // The exact times (ping at wsKeepAliveMs/2, cut-off wsPingTimeoutMs later) are proven in
    // virtual time in core-virtual.test.ts; here, on real sockets, the order and the outcome.
    await silent.next(isPing);
    const closed = await silent.closed;
    // terminated: no close frame, so the client sees 1006
    expect(closed.code).toBe(1006);
    expect(pings(silent)).toBe(1);
    expect(logger.forClient(silent.clientId).some((e) => /silent WebSocket/.test(e.msg))).toBe(true);

    // polite has been pinged, has answered, and is still open; wait for a few more rounds
    await polite.next(() => pings(polite) >= 4, 3_000);
    expect(polite.ws.readyState).toBe(polite.ws.OPEN);
    expect(logger.forClient(polite.clientId).some((e) => /silent WebSocket/.test(e.msg))).toBe(false);
    // its pongs reached recv$ as chsk/ws-pong event-msgs without reply
    const pong = await srv.next('chsk/ws-pong', (m) => m.clientId === polite.clientId);
    expect(pong.event).toEqual(['chsk/ws-pong']);
    expect(pong.uid).toBe('polite');
    expect(pong.reply).toBeUndefined();
    await polite.close();
  });

  it('any message counts as an answer, not only the pong', async () => {
    srv = await fx.startServer({ wsKeepAliveMs: KEEP_ALIVE, wsPingTimeoutMs: PING_TIMEOUT });
    const chatty = rawWs(srv.port, { uid: 'chatty' });
    chatty.messages.subscribe((m) => isPing(m) && chatty.sendJson([['test/anything', 1], null]));
    await chatty.handshake();
    await chatty.next(() => pings(chatty) >= 3, 3_000);
    expect(chatty.ws.readyState).toBe(chatty.ws.OPEN);
    await chatty.close();
  });

  it('a silent client is terminated before its uid leaves: then uidport-close follows the grace period', async () => {
    srv = await fx.startServer({ wsKeepAliveMs: KEEP_ALIVE, wsPingTimeoutMs: PING_TIMEOUT, reconnectGraceMs: { ws: 50 } });
    const silent = rawWs(srv.port, { uid: 'gone' });
    await silent.handshake();
    await silent.closed;
    const close = await srv.next('chsk/uidport-close', (m) => m.data === 'gone', 3_000);
    expect(close.uid).toBe('gone');
    expect(srv.chsk.connectedUids$.getValue().any.has('gone')).toBe(false);
  });

  it('answers a client ping [["chsk/ws-ping"], cbId] with ["pong", cbId] and emits a chsk/ws-ping event-msg without reply', async () => {
    srv = await fx.startServer();
    const c = rawWs(srv.port, { uid: 'pinger' });
    await c.handshake();
    expect(await c.request(['chsk/ws-ping'], 'x')).toBe('pong');
    const msg = await srv.next('chsk/ws-ping');
    expect(msg.event).toEqual(['chsk/ws-ping']);
    expect(msg.uid).toBe('pinger');
    expect(msg.clientId).toBe(c.clientId);
    expect('reply' in msg).toBe(false);
    // the exact wire form
    expect(c.received).toContainEqual(['pong', 'x']);
    await c.close();
  });

  it('a client ping without a cbId gets no answer but still reaches recv$', async () => {
    srv = await fx.startServer();
    const c = rawWs(srv.port, { uid: 'pinger' });
    await c.handshake();
    c.sendJson([['chsk/ws-ping'], null]);
    const msg = await srv.next('chsk/ws-ping');
    expect(msg.reply).toBeUndefined();
    // the sentinel request's reply is the only message after the handshake
    expect(await c.request(['chsk/ws-ping'], 'after')).toBe('pong');
    expect(c.received.slice(1)).toEqual([['pong', 'after']]);
    await c.close();
  });

  it('with wsPingTimeoutMs 0, idle sockets keep getting pings and are never terminated for silence', async () => {
    srv = await fx.startServer({ wsKeepAliveMs: KEEP_ALIVE, wsPingTimeoutMs: 0 });
    // with wsPingTimeoutMs 0 nobody is terminated for silence; pings keep coming
    const a = rawWs(srv.port, { uid: 'a' });
    const b = rawWs(srv.port, { uid: 'b' });
    await Promise.all([a.handshake(), b.handshake()]);
    await Promise.all([a.next(() => pings(a) >= 3, 3_000), b.next(() => pings(b) >= 3, 3_000)]);
    expect(a.ws.readyState).toBe(a.ws.OPEN);
    expect(b.ws.readyState).toBe(b.ws.OPEN);
    expect(a.received.filter(isPing)[0]).toEqual(['chsk/ws-ping', null]);
    await Promise.all([a.close(), b.close()]);
  });
});
