/**
 * Sente's Ajax POST form (`udt`, `client-id`, `ppstr`) with the default JSON packer: the server
 * reads both body shapes whatever the packer, also after a form body parser ran first, and
 * refuses a form it cannot use with 400.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SKIP_CSRF_CHECK } from '@sente-rx/core';
import { httpRequest, recordingLogger, uidFromQuery, useFixtures } from '@sente-rx/fixtures';
import { createChannelSocketServer, type ServerEventMsg } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { describe, expect, it } from 'vitest';

const fx = useFixtures();
const FORM = 'application/x-www-form-urlencoded;charset=UTF-8';
const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

const echo = (m: ServerEventMsg): void => {
  if (m.id === 'test/echo') m.reply?.({ echo: m.data, uid: m.uid });
};

describe('Ajax POST in Sente’s form, JSON packer', () => {
  it('reads ppstr and client-id from the form; the raw body still works', async () => {
    const srv = await fx.startServer();
    srv.chsk.recv$.subscribe(echo);
    const post = (body: string, type: string, query: string) => httpRequest(srv.port, { method: 'POST', path: `/chsk?${query}`, headers: { 'Content-Type': type }, body });
    const a = await post(form({ udt: '1', 'client-id': 'f1', ppstr: '[["test/echo",1],"ajax"]' }), FORM, 'uid=amy');
    expect([a.status, a.body]).toEqual([200, '[{"echo":1,"uid":"amy"},null]']);
    expect((await srv.next('test/echo')).clientId).toBe('f1');
    const noCb = await post(form({ 'client-id': 'f1', ppstr: '[["test/echo",2],null]' }), FORM, 'uid=amy');
    expect(noCb.body).toBe('["chsk/dummy-cb-200",null]');
    const raw = await post('[["test/echo",3],"ajax"]', 'text/plain;charset=UTF-8', 'uid=amy&client-id=f1');
    expect(raw.body).toBe('[{"echo":3,"uid":"amy"},null]');
  });

  it('refuses a form without ppstr, with an invalid client-id, or whose ppstr does not unpack, with 400', async () => {
    const logger = recordingLogger();
    const srv = await fx.startServer({ logger });
    const post = (body: string) => httpRequest(srv.port, { method: 'POST', path: '/chsk?uid=amy', headers: { 'Content-Type': FORM }, body });
    expect((await post(form({ 'client-id': 'f2' }))).status).toBe(400);
    expect((await post(form({ 'client-id': 'x'.repeat(129), ppstr: '[["test/echo",1],null]' }))).status).toBe(400);
    const bad = await post(form({ 'client-id': 'f2', ppstr: '[[' }));
    expect([bad.status, bad.body]).toEqual([400, 'Bad request: the body does not unpack']);
    expect(logger.entries.map((e) => e.level)).toEqual(['warn', 'warn', 'warn']);
  });

  it('takes the fields a form body parser left on req.body', async () => {
    const chsk = fx.track(createChannelSocketServer(nodeAdapter(), { userId: uidFromQuery, csrfToken: () => SKIP_CSRF_CHECK }));
    chsk.recv$.subscribe(echo);
    // a host that parsed the form first, as express.urlencoded() does
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        (req as http.IncomingMessage & { body?: unknown }).body = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
        chsk.ajaxPost(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    fx.track({ close: () => void server.close() });
    const port = (server.address() as AddressInfo).port;
    const r = await httpRequest(port, { method: 'POST', path: '/chsk?uid=bea', headers: { 'Content-Type': FORM }, body: form({ udt: '1', 'client-id': 'f3', ppstr: '[["test/echo",{"a":1}],"ajax"]' }) });
    expect([r.status, r.body]).toEqual([200, '[{"echo":{"a":1},"uid":"bea"},null]']);
  });
});
