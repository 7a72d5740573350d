/**
 * Ajax positions (the server's ajax-positions.ts) on one node with the in-memory log broker:
 * the handshake carries the head position, a poll with a position is answered from the log with
 * `["chsk/pos", p]` last, and clients that send no position (older ones) keep working. The cluster
 * case (polls round-robined over three processes) is in cluster.test.ts.
 */
import { SKIP_CSRF_CHECK } from '@sente-rx/core';
import { chskPath, collect, freshClientId, httpRequest, useFixtures, whenOpen } from '@sente-rx/fixtures';
import { filter, firstValueFrom, map, take, timeout } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { inMemoryBrokerV2 } from '../src/memory-broker.js';

const fx = useFixtures();

const json = (body: string): unknown => JSON.parse(body);
type Handshake = [['chsk/handshake', [string, null, unknown, boolean, string?]], null];

describe('Ajax positions with a log broker', () => {
  it('a sente-rx Ajax client gets 300 events once and in order, answered from the log', async () => {
    const broker = inMemoryBrokerV2();
    const srv = await fx.startServer({ broker, csrfToken: () => SKIP_CSRF_CHECK });
    const c = fx.client(srv.port, { type: 'ajax', uid: 'u1' });
    await whenOpen(c);
    const got = collect(c.recv$.pipe(filter((m) => m.id === 'test/n'), map((m) => m.data)), 300, 15_000);
    for (let i = 0; i < 300; i++) srv.chsk.send('u1', ['test/n', i]);
    expect(await got).toEqual(Array.from({ length: 300 }, (_, i) => i));
    await broker.close();
  });

  it('the wire: the handshake carries the head, a poll with it gets the events after it and the new position', async () => {
    const broker = inMemoryBrokerV2();
    const srv = await fx.startServer({ broker, csrfToken: () => SKIP_CSRF_CHECK });
    const clientId = freshClientId();
    const hs = json((await httpRequest(srv.port, { path: chskPath({ 'client-id': clientId, uid: 'w', 'handshake?': 'true' }) })).body) as Handshake;
    const head = hs[0][1][4];
    expect(head).toMatch(/^0\.0\./);
    srv.chsk.send('w', ['test/a', 1]);
    srv.chsk.send('w', ['test/b', 2]);
    const poll = json((await httpRequest(srv.port, { path: chskPath({ 'client-id': clientId, uid: 'w', 'chsk-pos': head }) })).body) as [unknown[], null];
    expect(poll[0]).toEqual([['test/a', 1], ['test/b', 2], ['chsk/pos', head?.replace(/^0\./, '2.')]]);
    // The same position again (an answer lost on the way): the same events, not new ones — the client decides what it saw.
    const again = json((await httpRequest(srv.port, { path: chskPath({ 'client-id': clientId, uid: 'w', 'chsk-pos': head }) })).body) as [unknown[], null];
    expect(again[0]).toEqual(poll[0]);
    await broker.close();
  });

  it('a client that sends no position (older) keeps its pending queue; a malformed position counts as none', async () => {
    const broker = inMemoryBrokerV2();
    const srv = await fx.startServer({ broker, csrfToken: () => SKIP_CSRF_CHECK, sendBufMs: { ajax: 0 } });
    const clientId = freshClientId();
    await httpRequest(srv.port, { path: chskPath({ 'client-id': clientId, uid: 'old', 'handshake?': 'true' }) });
    const held = httpRequest(srv.port, { path: chskPath({ 'client-id': clientId, uid: 'old' }) });
    await firstValueFrom(srv.chsk.connectedUids$.pipe(filter((u) => u.ajax.has('old')), take(1), timeout(5_000))); // the poll is held
    srv.chsk.send('old', ['test/x', 1]);
    expect(json((await held).body)).toEqual([[['test/x', 1]], null]);
    srv.chsk.send('old', ['test/y', 2]); // no channel now: kept for the next poll
    const next = await httpRequest(srv.port, { path: chskPath({ 'client-id': clientId, uid: 'old', 'chsk-pos': 'garbage' }) });
    expect(json(next.body)).toEqual([[['test/y', 2]], null]);
    await broker.close();
  });

  it('a broker with its log off gives no positions', async () => {
    const broker = inMemoryBrokerV2({ recovery: false });
    const srv = await fx.startServer({ broker, csrfToken: () => SKIP_CSRF_CHECK });
    const hs = json((await httpRequest(srv.port, { path: chskPath({ 'client-id': freshClientId(), uid: 'n', 'handshake?': 'true' }) })).body) as Handshake;
    expect(hs[0][1]).toHaveLength(4); // [uid, null, data, first]: no position
    await broker.close();
  });
});
