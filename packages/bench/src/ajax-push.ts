/**
 * A quick, single-process check of Ajax push throughput (issue 3's closing figure):
 * N long-polling clients (N/10 users × 10 clients) and the server in one process, a closed
 * loop keeping at most 5,000 deliveries in flight for 3 s; prints delivered/s, loss and latency.
 * Usage: npm run build && node packages/bench/dist/ajax-push.js [clients=100]
 * (The side-by-side figure against Socket.IO is `npm run bench -- --only=longpoll`.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createChannelSocketClient, type ChannelSocketClient } from '@sente-rx/client';
import { createChannelSocketServer, SKIP_CSRF_CHECK } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';

const clients = Number(process.argv[2] ?? 100);
const users = Math.max(1, Math.floor(clients / 10));
const windowSize = 5_000;
const durationMs = 3_000;

const chsk = createChannelSocketServer(nodeAdapter(), {
  userId: (req) => new URL(req.url ?? '/', 'http://x').searchParams.get('uid') ?? undefined,
  csrfToken: () => SKIP_CSRF_CHECK,
  allowedOrigins: 'all',
});
const server = http.createServer((req, res) => (req.method === 'POST' ? chsk.ajaxPost(req, res) : chsk.ajaxGetOrWsHandshake(req, res)));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;

let got = 0;
const latencies: number[] = [];
const all: ChannelSocketClient[] = [];
for (let i = 0; i < clients; i++) {
  const c = createChannelSocketClient('/chsk', null, { type: 'ajax', host: '127.0.0.1', port, params: { uid: `u${i % users}` }, storage: null });
  c.recv$.subscribe((m) => {
    if (m.id !== 'bench/push') return;
    got++;
    latencies.push(performance.now() - (m.data as { t: number }).t);
  });
  all.push(c);
}
const openDeadline = Date.now() + 10_000;
while (all.some((c) => !c.state.open) && Date.now() < openDeadline) await new Promise((r) => setTimeout(r, 20));

const t0 = performance.now();
let sent = 0;
while (performance.now() - t0 < durationMs) {
  if (sent - got < windowSize) {
    for (let u = 0; u < users; u++) chsk.send(`u${u}`, ['bench/push', { t: performance.now() }]);
    sent += users * 10;
  }
  await new Promise((r) => setImmediate(r));
}
const elapsed = (performance.now() - t0) / 1000;
const drainDeadline = Date.now() + 5_000;
while (got < sent && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 20));
latencies.sort((a, b) => a - b);
const q = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN).toFixed(1);
process.stdout.write(
  `${clients} Ajax clients (${users} users × 10): ${Math.round(got / elapsed)} delivered/s, sent ${sent}, delivered ${got}, ` +
    `latency p50 ${q(0.5)} ms, p99 ${q(0.99)} ms\n`,
);
for (const c of all) c.close();
await chsk.close();
server.closeAllConnections();
server.close();
