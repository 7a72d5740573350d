/**
 * Addressing (issue 11): send(uid) to every client of a user, send({ uid, clientId }) to one client
 * (tab), broadcast to every connected client, named or anonymous, on every transport.
 */
import { describe, expect, it } from 'vitest';
import { NIL_UID } from '@sente-rx/server';
import { chskPath, freshClientId, httpRequest, pushedEvents, type RawWs, useFixtures } from '@sente-rx/fixtures';

const isBatch = (m: unknown): boolean => Array.isArray(m) && m[1] === null && Array.isArray(m[0]) && m[0][0] !== 'chsk/handshake';

describe('addressing', () => {
  const fx = useFixtures();

  const connect = async (port: number, uid?: string): Promise<RawWs> => {
    const c = fx.rawWs(port, uid === undefined ? {} : { uid });
    await c.handshake();
    return c;
  };

  it('send({ uid, clientId }) reaches only that tab; send(uid) still reaches both', async () => {
    const srv = await fx.startServer({ sendBufMs: { ws: 0 } });
    const tab1 = await connect(srv.port, 'alice');
    const tab2 = await connect(srv.port, 'alice');
    srv.chsk.send({ uid: 'alice', clientId: tab1.clientId }, ['test/only-tab1', 1]);
    srv.chsk.send('alice', ['test/both', 2]); // the sentinel: tab2's first batch must be this one
    await tab1.next((m) => isBatch(m) && JSON.stringify(m).includes('test/both'));
    await tab2.next(isBatch);
    expect(pushedEvents(tab1)).toEqual([
      ['test/only-tab1', 1],
      ['test/both', 2],
    ]);
    expect(pushedEvents(tab2)).toEqual([['test/both', 2]]);
  });

  it('within one batching window a tab gets its own events in order with the uid’s, and the other tab only the uid’s', async () => {
    const srv = await fx.startServer({ sendBufMs: { ws: 20 } });
    const tab1 = await connect(srv.port, 'alice');
    const tab2 = await connect(srv.port, 'alice');
    srv.chsk.send('alice', ['test/a', 1]);
    srv.chsk.send({ uid: 'alice', clientId: tab1.clientId }, ['test/b', 2]);
    srv.chsk.send('alice', ['test/c', 3]);
    await tab1.next(isBatch);
    await tab2.next(isBatch);
    // One batch each: the window was shared, the contents filtered per client at flush.
    expect(tab1.received.filter(isBatch)).toEqual([
      [
        [
          ['test/a', 1],
          ['test/b', 2],
          ['test/c', 3],
        ],
        null,
      ],
    ]);
    expect(tab2.received.filter(isBatch)).toEqual([
      [
        [
          ['test/a', 1],
          ['test/c', 3],
        ],
        null,
      ],
    ]);
  });

  it('send to a client id the uid does not have reaches nobody', async () => {
    const srv = await fx.startServer({ sendBufMs: { ws: 0 } });
    const tab = await connect(srv.port, 'alice');
    srv.chsk.send({ uid: 'alice', clientId: 'someone-else' }, ['test/lost', 1]);
    srv.chsk.send({ uid: 'bob', clientId: tab.clientId }, ['test/lost', 2]); // right client id, wrong uid
    srv.chsk.send('alice', ['test/sentinel', 3]);
    await tab.next(isBatch);
    expect(pushedEvents(tab)).toEqual([['test/sentinel', 3]]);
  });

  it('broadcast reaches named and anonymous WebSocket clients and Ajax clients', async () => {
    const srv = await fx.startServer({ sendBufMs: { ws: 0, ajax: 0 }, reconnectGraceMs: { ajax: 10_000 } });
    const named = await connect(srv.port, 'alice');
    const anon = await connect(srv.port);
    expect((await anon.handshake())[0]).toBe(NIL_UID);
    const clientId = freshClientId('ajax');
    const path = chskPath({ 'client-id': clientId, uid: 'carol' });
    await httpRequest(srv.port, { path: `${path}&handshake%3F=1` });
    const poll = httpRequest(srv.port, { path });
    await srv.next('chsk/uidport-open', (m) => m.data === 'carol'); // the poll is held: carol is connected
    srv.chsk.broadcast(['test/all', { n: 1 }]);
    await named.next(isBatch);
    await anon.next(isBatch);
    expect(pushedEvents(named)).toEqual([['test/all', { n: 1 }]]);
    expect(pushedEvents(anon)).toEqual([['test/all', { n: 1 }]]);
    expect(JSON.parse((await poll).body)).toEqual([[['test/all', { n: 1 }]], null]);
  });

  it('broadcast reaches an Ajax client between polls on its next poll', async () => {
    const srv = await fx.startServer({ sendBufMs: { ajax: 0 }, reconnectGraceMs: { ajax: 10_000 } });
    const path = chskPath({ 'client-id': freshClientId('ajax'), uid: 'dora' });
    await httpRequest(srv.port, { path: `${path}&handshake%3F=1` }); // registered, no poll held
    srv.chsk.broadcast(['test/kept', 1]);
    expect(JSON.parse((await httpRequest(srv.port, { path })).body)).toEqual([[['test/kept', 1]], null]);
  });

  it('refuses bad targets and reserved ids with a TypeError, sending nothing', async () => {
    const srv = await fx.startServer();
    const send = srv.chsk.send as (t: unknown, e: unknown) => void;
    expect(() => send({ uid: 'alice' }, ['test/x'])).toThrow(TypeError);
    expect(() => send({ uid: 'alice', clientId: '' }, ['test/x'])).toThrow(TypeError);
    expect(() => send({ uid: 'alice', clientId: 'c1' }, ['chsk/close'])).toThrow(/chsk\/close takes a uid target/);
    expect(() => srv.chsk.broadcast(['chsk/close'])).toThrow(TypeError);
    expect(() => srv.chsk.broadcast(['chsk/handshake', 1])).toThrow(TypeError);
    expect(() => srv.chsk.broadcast(['no-namespace'] as never)).toThrow(TypeError);
  });
});
