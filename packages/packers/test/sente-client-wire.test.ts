/**
 * A sente-rx client with `ednPacker` against a tiny fake Sente v1.21 server: a raw `ws` server and
 * an http handler that send the recorded server frames (./vectors.ts) verbatim and check what the
 * client sends (its frames, its Ajax form POST body, its answer to a ping).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createChannelSocketClient, type ChannelSocketClient, type ClientOptions } from '@sente-rx/client';
import { jsonPacker, NIL_UID, silentLogger } from '@sente-rx/core';
import { collect, nextEvent, useFixtures, whenOpen } from '@sente-rx/fixtures';
import { filter, firstValueFrom, lastValueFrom, ReplaySubject, take, timeout } from 'rxjs';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ednPacker } from '../src/edn.js';
import { SERVER_FRAMES } from './vectors.js';

const fx = useFixtures();

const frame = (name: string): string => {
  const v = SERVER_FRAMES.find((f) => f.name === name);
  if (v === undefined) throw new Error(`no server vector ${name}`);
  return v.frame;
};

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * The fake server. `onWs` gets each socket (after the upgrade) to script; `onHttp` answers each
 * Ajax request. Everything the client sends is recorded.
 */
async function fakeSente(script: {
  onWs?: (ws: WebSocket, url: string) => void;
  onHttp?: (req: Received, res: http.ServerResponse) => void;
}) {
  const wsFrames = new ReplaySubject<string>();
  const httpIn = new ReplaySubject<Received>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      httpIn.next(r);
      script.onHttp?.(r, res);
    });
  });
  const wss = new WebSocketServer({ server, path: '/chsk' });
  wss.on('connection', (ws, req) => {
    ws.on('message', (d: Buffer) => wsFrames.next(d.toString('utf8')));
    ws.on('error', () => undefined);
    script.onWs?.(ws, req.url ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  fx.track({
    stop: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
  return {
    port,
    nextWs: (pred: (f: string) => boolean, ms = 5_000) => firstValueFrom(wsFrames.pipe(filter(pred), take(1), timeout(ms))),
    nextHttp: (pred: (r: Received) => boolean, ms = 5_000) => firstValueFrom(httpIn.pipe(filter(pred), take(1), timeout(ms))),
  };
}

function senteClient(port: number, opts: ClientOptions): ChannelSocketClient {
  return fx.track(
    createChannelSocketClient('/chsk', null, {
      host: '127.0.0.1',
      port,
      protocol: 'http:',
      WebSocket: WebSocket as unknown as ClientOptions['WebSocket'],
      packer: ednPacker,
      backoffMs: () => 20,
      storage: null,
      logger: silentLogger,
      ...opts,
    }),
  );
}

const SENTE_HTML = { 'Content-Type': 'text/html; charset=utf-8' };

describe('a sente-rx client (ednPacker) on a Sente v1.21 server, over WebSocket', () => {
  it('opens on Sente’s handshake, reads replies, pongs and push batches, and answers pings as Sente’s client does', async () => {
    const fake = await fakeSente({
      onWs: (ws) => {
        ws.send(frame('WS handshake'));
        ws.on('message', (d: Buffer) => {
          const f = d.toString('utf8');
          const echo = /^\[\[:test\/echo \{:x 1\}\] "([^"]+)"\]$/.exec(f);
          if (echo !== null) ws.send(`[{:echo {:x 1}, :uid "alice"} "${echo[1]}"]`);
          const ping = /^\[\[:chsk\/ws-ping\] "([^"]+)"\]$/.exec(f);
          if (ping !== null) ws.send(`["pong" "${ping[1]}"]`);
          if (f === '[[:test/push-me {:n 3}] nil]') ws.send(frame('push batch of 3'));
          if (f === '[[:test/ping-me] nil]') ws.send(frame('server ping'));
        });
      },
    });
    const c = senteClient(fake.port, { type: 'ws', wsKeepAliveMs: 300 });
    const hs = await nextEvent(c, 'chsk/handshake');
    // the local event keeps sente-rx's documented [uid, handshakeData, firstHandshake]
    expect(hs.data).toEqual(['alice', null, true]);
    expect(c.state).toMatchObject({ open: true, uid: 'alice', handshakeData: null, type: 'ws' });

    expect(await lastValueFrom(c.send(['test/echo', { x: 1 }], { timeoutMs: 2_000 }))).toEqual({ echo: { x: 1 }, uid: 'alice' });

    const pushes = collect(c.recv$.pipe(filter((m) => m.id === 'test/push')), 3);
    c.send(['test/push-me', { n: 3 }]).subscribe();
    expect((await pushes).map((m) => m.data)).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);

    const pinged = nextEvent(c, 'chsk/ws-ping');
    c.send(['test/ping-me']).subscribe();
    expect(await fake.nextWs((f) => f.includes('ws-pong'))).toBe('[[:chsk/ws-pong] nil]');
    expect((await pinged).event).toEqual(['chsk/ws-ping']);

    // the client's own keep-alive ping, idle for wsKeepAliveMs / 2: Sente answers "pong"
    expect(await fake.nextWs((f) => f.startsWith('[[:chsk/ws-ping]'))).toMatch(/^\[\[:chsk\/ws-ping\] "[^"]+"\]$/);
    expect(c.state.open).toBe(true);
  });

  it('accepts :sente/nil-uid with handshake data, and a non-string uid', async () => {
    let n = 0;
    const fake = await fakeSente({
      onWs: (ws) => ws.send(n++ === 0 ? frame('nil-uid handshake with data') : '[[:chsk/handshake [42 nil nil]] nil]'),
    });
    const anon = senteClient(fake.port, { type: 'ws' });
    expect((await nextEvent(anon, 'chsk/handshake')).data).toEqual([NIL_UID, { hd: 'hello' }, true]);
    expect(anon.state).toMatchObject({ open: true, uid: NIL_UID, handshakeData: { hd: 'hello' } });
    const numeric = senteClient(fake.port, { type: 'ws' });
    await whenOpen(numeric);
    expect(numeric.state.uid).toBe('42');
  });
});

describe('a sente-rx client (ednPacker) on a Sente v1.21 server, over Ajax', () => {
  it('handshakes, polls, and posts Sente’s form (udt, client-id, ppstr with :ajax); reads every Ajax answer', async () => {
    let polls = 0;
    let thirdPoll = (): void => undefined;
    const heldPoll = new Promise<void>((r) => (thirdPoll = r));
    const fake = await fakeSente({
      onHttp: (req, res) => {
        if (req.method === 'GET') {
          const q = new URL(req.url, 'http://x').searchParams;
          if (q.has('handshake?')) return void res.writeHead(200, SENTE_HTML).end(frame('Ajax handshake'));
          polls += 1;
          if (polls === 1) return void res.writeHead(200, SENTE_HTML).end('[[[:test/push {:i 0}] [:test/push {:i 1}]] nil]');
          if (polls === 2) return void res.writeHead(200, SENTE_HTML).end(frame('empty long poll'));
          thirdPoll();
          return; // held until the client goes away
        }
        const form = new URLSearchParams(req.body);
        const ppstr = form.get('ppstr');
        if (ppstr === '[[:test/echo {:x 1}] :ajax]') return void res.writeHead(200, SENTE_HTML).end(frame('Ajax POST reply'));
        if (ppstr === '[[:test/echo {:x 2}] nil]') return void res.writeHead(200, SENTE_HTML).end(frame('Ajax POST without cb'));
        if (ppstr === '[[:test/unhandled] :ajax]') return void res.writeHead(200, SENTE_HTML).end('[:chsk/timeout nil]');
        res.writeHead(200, SENTE_HTML).end('[:chsk/dummy-cb-200 nil]'); // what Sente answers a POST it cannot read
      },
    });
    const c = senteClient(fake.port, { type: 'ajax', clientId: 'c2' });
    const pushes = collect(c.recv$.pipe(filter((m) => m.id === 'test/push')), 2);
    expect((await nextEvent(c, 'chsk/handshake')).data).toEqual(['bob', null, true]);
    expect((await pushes).map((m) => m.data)).toEqual([{ i: 0 }, { i: 1 }]);
    await heldPoll; // [:chsk/timeout nil] was taken as an empty poll: the client polled again

    expect(await lastValueFrom(c.send(['test/echo', { x: 1 }], { timeoutMs: 2_000 }))).toEqual({ echo: { x: 1 }, uid: 'bob' });
    const post = await fake.nextHttp((r) => r.method === 'POST' && r.body.includes('x%201'));
    expect(post.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=UTF-8');
    // byte for byte what Sente's client posts (goog QueryData: udt, client-id, ppstr)
    expect(post.body).toMatch(/^udt=\d+&client-id=c2&ppstr=%5B%5B%3Atest%2Fecho%20%7B%3Ax%201%7D%5D%20%3Aajax%5D$/);

    c.send(['test/echo', { x: 2 }]).subscribe();
    const noCb = await fake.nextHttp((r) => r.method === 'POST' && r.body.includes('x%202'));
    expect(new URLSearchParams(noCb.body).get('ppstr')).toBe('[[:test/echo {:x 2}] nil]');

    // Sente's timeout answer for a POST whose handler never replied fails the request
    await expect(lastValueFrom(c.send(['test/unhandled'], { timeoutMs: 2_000 }))).rejects.toMatchObject({ code: 'chsk/timeout' });
    expect(c.state.open).toBe(true);
  });

  it('with the JSON packer the POST keeps the raw body (text/plain)', async () => {
    const fake = await fakeSente({
      onHttp: (req, res) => {
        if (req.method === 'GET') {
          if (new URL(req.url, 'http://x').searchParams.has('handshake?')) return void res.writeHead(200).end('[["chsk/handshake",["u",null,null,true]],null]');
          return; // held
        }
        res.writeHead(200).end('[{"ok":1},null]');
      },
    });
    const c = senteClient(fake.port, { type: 'ajax', packer: jsonPacker });
    await whenOpen(c);
    expect(await lastValueFrom(c.send(['test/echo', 1], { timeoutMs: 2_000 }))).toEqual({ ok: 1 });
    const post = await fake.nextHttp((r) => r.method === 'POST');
    expect(post.headers['content-type']).toBe('text/plain;charset=UTF-8');
    expect(post.body).toBe('[["test/echo",1],"ajax"]');
  });
});
