// What the handshake gate costs (issue 12): the time from creating a client to `state.open`, over
// WebSocket and Ajax, against four servers in this process, interleaved so they share the load:
//   memory     the in-memory broker (no interest(): no wait)
//   ungated    redisBroker({ recovery: false }) with interest() hidden (the handshake does not wait)
//   gated      redisBroker({ recovery: false }) (the handshake waits for the uid's SUBSCRIBE)
//   gated-rec  redisBroker() (recovery on: the handshake also waits for settled() and the log's head)
// plus the wait itself: interest() call → its promise resolved, on `gated`.
//
//   npm run build && node packages/redis/scripts/handshake-wait.mjs [connects per variant and transport, default 200]
//
// Starts its own redis-server on a free loopback port (needs the binary on PATH or REDIS_SERVER).
/* global console, performance, process, setTimeout, URL -- a Node script */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { createChannelSocketClient } from '@sente-rx/client';
import { SKIP_CSRF_CHECK, silentLogger } from '@sente-rx/core';
import { redisBroker } from '@sente-rx/redis';
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { filter, firstValueFrom, take } from 'rxjs';
import WebSocket from 'ws';

const N = Number(process.argv[2] ?? 200);
const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const redis = spawn(process.env.REDIS_SERVER ?? 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
for (;;) {
  const ok = await new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve(true))).on('error', () => resolve(false));
  });
  if (ok) break;
  await new Promise((r) => setTimeout(r, 20));
}
const url = `redis://127.0.0.1:${port}`;

const waits = [];
const hide = (b) => new Proxy(b, { get: (t, p) => (p === 'interest' ? undefined : Reflect.get(t, p)) });
const timed = (b) =>
  new Proxy(b, {
    get: (t, p) =>
      p === 'interest'
        ? (uid, on) => {
            const t0 = performance.now();
            const r = t.interest(uid, on);
            if (r !== undefined) void r.then(() => waits.push(performance.now() - t0));
            return r;
          }
        : Reflect.get(t, p),
  });

async function server(kind) {
  const broker = kind === 'memory' ? undefined : redisBroker({ url, prefix: `hw-${kind}`, ...(kind === 'gated-rec' ? {} : { recovery: false }) });
  const given = broker === undefined ? {} : { broker: kind === 'ungated' ? hide(broker) : kind === 'gated' ? timed(broker) : broker };
  const chsk = createChannelSocketServer(nodeAdapter(), { userId: (req) => new URL(req.url, 'http://x').searchParams.get('uid'), csrfToken: () => SKIP_CSRF_CHECK, logger: silentLogger, ...given });
  const srv = http.createServer((req, res) => (req.method === 'POST' ? chsk.ajaxPost(req, res) : chsk.ajaxGetOrWsHandshake(req, res)));
  chsk.attach(srv, { path: '/chsk' });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  if (broker !== undefined) await firstValueFrom(broker.status$.pipe(filter((s) => s === 'ready')));
  return {
    port: srv.address().port,
    async close() {
      await chsk.close();
      srv.closeAllConnections();
      srv.close();
      await broker?.close();
    },
  };
}

const kinds = ['memory', 'ungated', 'gated', 'gated-rec'];
const servers = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await server(k)])));
const times = {};
let seq = 0;
for (let i = 0; i < N; i++) {
  for (const type of ['ws', 'ajax']) {
    for (const k of kinds) {
      const c = createChannelSocketClient('/chsk', null, { type, host: '127.0.0.1', port: servers[k].port, protocol: 'http:', WebSocket, params: { uid: `u${seq++}` }, storage: null, logger: silentLogger });
      const t0 = performance.now();
      await firstValueFrom(c.state$.pipe(filter(([, s]) => s.open), take(1)));
      (times[`${k}/${type}`] ??= []).push(performance.now() - t0);
      c.close();
    }
  }
}
const q = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))].toFixed(2);
const row = (name, a) => console.log(`${name.padEnd(22)} p50 ${q(a, 0.5).padStart(7)}  p90 ${q(a, 0.9).padStart(7)}  p99 ${q(a, 0.99).padStart(7)} ms  (n=${a.length})`);
console.log(`client created -> open, ${N} connects per row; load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
for (const [k, a] of Object.entries(times)) row(k, a);
row('interest wait (gated)', waits);
for (const s of Object.values(servers)) await s.close();
redis.kill('SIGKILL');
process.exit(0);
