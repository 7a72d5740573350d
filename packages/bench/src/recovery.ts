// Recovery (issue 13), minimal: `npm run recovery -w @sente-rx/bench` (after `npm run build`).
// In one process, the server core driven through its adapter seam with counting fake WebSockets
// (no network, no client: the figures are the server's own work):
//   1. server CPU and retained memory per pushed message, recovery on and off;
//   2. memory per idle user log at the default bound (1,000 events, 2 min);
//   3. time to recover 1,000 missed events (WebSocket open with a position → replay batch sent).
// Bounded in count; prints a table and writes test-output/recovery.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Packed, silentLogger, SKIP_CSRF_CHECK } from '@sente-rx/core';
import { createChannelSocketServer, type RequestInfo, type ServerChannel, type ServerCore, type ServerOptions } from '@sente-rx/server';

interface Req {
  readonly uid: string;
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

function makeServer(options: ServerOptions<Req>) {
  let core: ServerCore<Req> | undefined;
  const chsk = createChannelSocketServer<Req, object>(
    { bind: (c) => ((core = c), {}) },
    { userId: (r) => r.uid, csrfToken: () => SKIP_CSRF_CHECK, logger: silentLogger, sendBufMs: { ws: 0, ajax: 0 }, ...options },
  );
  if (core === undefined) throw new Error('no core');
  return { chsk, core };
}

class FakeSocket implements ServerChannel {
  readyState = 1;
  bufferedAmount = 0;
  frames = 0;
  bytes = 0;
  first: string | undefined;
  onFrame: ((data: Packed) => void) | undefined;
  send(data: Packed): void {
    this.frames++;
    this.bytes += data.length;
    if (this.first === undefined && typeof data === 'string') this.first = data;
    this.onFrame?.(data);
  }
  close(): void {
    this.readyState = 3;
  }
  terminate(): void {
    this.readyState = 3;
  }
}

const INFO: RequestInfo = { transport: 'ws', method: 'GET', url: '/chsk', headers: {}, remoteAddress: '127.0.0.1' };

function open(core: ServerCore<Req>, uid: string, clientId: string, pos: string | undefined): { socket: FakeSocket; conn: ReturnType<ServerCore<Req>['wsOpen']> } {
  const q = new URLSearchParams({ 'client-id': clientId });
  if (pos !== undefined) q.set('pos', pos);
  const socket = new FakeSocket();
  const conn = core.wsOpen(socket, { method: 'GET', url: `/chsk?${q}`, query: q, header: () => undefined }, { uid }, INFO);
  return { socket, conn };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
const event = (i: number): ['app/msg', { text: string; i: number }] => ['app/msg', { text: 'hello world', i }];

/** 1. CPU and memory per pushed message: `users` WebSocket clients (announcing recovery), `perUser` pushes each. */
async function perMessage(recovery: boolean, users: number, perUser: number) {
  const { chsk, core } = makeServer(recovery ? {} : { recovery: false });
  const sockets: FakeSocket[] = [];
  for (let u = 0; u < users; u++) sockets.push(open(core, `u${u}`, `c${u}`, '').socket);
  await settle();
  const h0 = heap();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < perUser; i++) for (let u = 0; u < users; u++) chsk.send(`u${u}`, event(i));
  const wallNs = Number(process.hrtime.bigint() - t0);
  const c1 = process.cpuUsage(c0);
  const h1 = heap();
  const pushes = users * perUser;
  const frames = sockets.reduce((a, s) => a + s.frames, 0) - users; // minus the handshakes
  const bytes = sockets.reduce((a, s) => a + s.bytes, 0);
  await chsk.close();
  return { recovery, pushes, frames, cpuUsPerPush: (c1.user + c1.system) / pushes, wallUsPerPush: wallNs / 1e3 / pushes, retainedBytesPerPush: (h1 - h0) / pushes, wireBytesPerPush: bytes / pushes };
}

/** 2. Memory per idle user log: `users` uids with no client, each pushed `perUser` events (the default bound keeps 1,000). */
async function idleLog(users: number, perUser: number) {
  const measure = async (recovery: boolean): Promise<number> => {
    const { chsk } = makeServer(recovery ? {} : { recovery: false });
    const h0 = heap();
    for (let u = 0; u < users; u++) for (let i = 0; i < perUser; i++) chsk.send(`idle${u}`, event(i));
    const h1 = heap();
    await chsk.close();
    return h1 - h0;
  };
  const on = await measure(true);
  const off = await measure(false);
  return { users, eventsPerUser: perUser, bytesPerIdleUserLog: (on - off) / users, bytesPerLoggedEvent: (on - off) / (users * Math.min(perUser, 1_000)) };
}

/** 3. Time from a WebSocket open with a position to the replay batch of `missed` events on the socket. */
async function recoverTime(missed: number, rounds: number) {
  const { chsk, core } = makeServer({ reconnectGraceMs: { ws: 0, ajax: 0 } });
  const samples: number[] = [];
  let replayBytes = 0;
  for (let r = 0; r < rounds; r++) {
    const uid = `r${r}`;
    const first = open(core, uid, `rc${r}`, '');
    await settle();
    const hs = JSON.parse(first.socket.first ?? 'null') as [[string, unknown[]], null];
    const rec = hs[0][1][4] as [string, { pos: string }];
    first.socket.close();
    first.conn.closed(1000);
    for (let i = 0; i < missed; i++) chsk.send(uid, event(i));
    const t0 = process.hrtime.bigint();
    const done = new Promise<void>((resolve) => {
      const again = open(core, uid, `rc${r}`, rec[1].pos);
      again.socket.onFrame = (data) => {
        if (again.socket.frames !== 2) return; // handshake, then the replay batch
        replayBytes = data.length;
        resolve();
      };
    });
    await done;
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await chsk.close();
  samples.sort((a, b) => a - b);
  return { missed, rounds, replayBytes, medianMs: samples[Math.floor(samples.length / 2)] ?? NaN, maxMs: samples[samples.length - 1] ?? NaN };
}

async function main(): Promise<void> {
  if ((globalThis as { gc?: unknown }).gc === undefined) process.stderr.write('warning: run with --expose-gc for memory figures\n');
  const off = await perMessage(false, 1_000, 50);
  const on = await perMessage(true, 1_000, 50);
  const idle = await idleLog(200, 1_000);
  const rec = await recoverTime(1_000, 21);
  const results = { node: process.version, perMessage: [off, on], idleLog: idle, recover: rec };
  const f = (x: number, d = 2): string => x.toFixed(d);
  process.stdout.write(
    [
      'recovery bench (server core, fake sockets, one process)',
      `per pushed message (1,000 ws clients × 50 pushes, sendBufMs 0):`,
      `  recovery off: ${f(off.cpuUsPerPush)} µs CPU, ${f(off.retainedBytesPerPush, 0)} B retained, ${f(off.wireBytesPerPush, 0)} B on the wire`,
      `  recovery on : ${f(on.cpuUsPerPush)} µs CPU, ${f(on.retainedBytesPerPush, 0)} B retained, ${f(on.wireBytesPerPush, 0)} B on the wire`,
      `idle user log at the default bound (${idle.users} uids × ${idle.eventsPerUser} events): ${f(idle.bytesPerIdleUserLog / 1024, 1)} KiB per uid, ${f(idle.bytesPerLoggedEvent, 0)} B per logged event`,
      `recover ${rec.missed} missed events (open with pos → replay batch of ${rec.replayBytes} B sent): median ${f(rec.medianMs)} ms, max ${f(rec.maxMs)} ms over ${rec.rounds} rounds`,
      '',
    ].join('\n'),
  );
  const out = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'test-output');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'recovery.json'), `${JSON.stringify(results, null, 2)}\n`);
}

await main();
