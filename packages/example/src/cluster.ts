/**
 * `npm run start:cluster`: the demo as a cluster, to try by hand. A private `redis-server` on a
 * free loopback port (Debian's package; REDIS_SERVER names another binary), three example servers
 * (dist/server.js, each its own process on a free port, the Redis broker, signed-cookie sessions
 * under one random secret), and a round-robin proxy in front on PORT (default 3000) that sends each
 * HTTP request and each WebSocket upgrade to the next node, so Ajax polls and POSTs alternate nodes.
 *
 *   NODES=3 PORT=3000 CLUSTER_RUN_MS=0 npm run start:cluster
 *
 * Ctrl-C (or SIGTERM, or CLUSTER_RUN_MS elapsed when > 0) stops the proxy, the servers and Redis.
 * Kill one server by hand (`kill -9 <pid>`, the pids are printed) to watch its clients move on.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RedisServer, REDIS_BIN } from '@sente-rx/fixtures/redis-server';
import { startRoundRobinProxy } from '@sente-rx/fixtures/round-robin-proxy';

const NODES = Number(process.env.NODES ?? 3);
const PORT = Number(process.env.PORT ?? 3000);
const RUN_MS = Number(process.env.CLUSTER_RUN_MS ?? 0);
const START_BOUND_MS = 20_000;
const STOP_BOUND_MS = 5_000;

const say = (line: string): void => console.log(`${new Date().toISOString().slice(11, 23)} [cluster] ${line}`);

if (!(Number.isInteger(NODES) && NODES >= 1 && NODES <= 8)) throw new TypeError(`NODES must be 1-8, got ${process.env.NODES}`);
if (REDIS_BIN === undefined) {
  console.error('start:cluster needs redis-server (apt-get install -y redis-server, or set REDIS_SERVER)');
  process.exit(1);
}

const redis = await RedisServer.start();
say(`redis-server on ${redis.url}`);
const secret = randomBytes(32).toString('base64url');
const prefix = `sente-rx-demo-${process.pid}`;
const serverJs = fileURLToPath(new URL('./server.js', import.meta.url));
const children: ChildProcess[] = [];

function startNode(i: number): Promise<{ port: number; pid: number }> {
  const name = `node-${i}`;
  const child = fork(serverJs, [], {
    env: { ...process.env, PORT: '0', NODE_NAME: name, SESSION_SECRET: secret, REDIS_URL: redis.url, REDIS_PREFIX: prefix },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const bound = setTimeout(() => reject(new Error(`${name} did not start within ${START_BOUND_MS} ms`)), START_BOUND_MS);
    child.once('message', (m: { port?: unknown }) => {
      clearTimeout(bound);
      if (typeof m.port === 'number') resolve({ port: m.port, pid: child.pid ?? 0 });
      else reject(new Error(`${name} said ${JSON.stringify(m)}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(bound);
      reject(new Error(`${name} exited (${String(code ?? signal)})`));
    });
  });
}

let stopping: Promise<void> | undefined;
function stop(reason: string): Promise<void> {
  stopping ??= (async () => {
    say(`stopping (${reason})…`);
    await proxy?.close();
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const bound = setTimeout(() => c.kill('SIGKILL'), STOP_BOUND_MS);
            c.once('exit', () => {
              clearTimeout(bound);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    await redis.stop();
    say('stopped');
  })();
  return stopping;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stop(sig).finally(() => process.exit(0)));

let proxy: Awaited<ReturnType<typeof startRoundRobinProxy>> | undefined;
try {
  const nodes = [];
  for (let i = 1; i <= NODES; i++) nodes.push(await startNode(i));
  for (const [i, n] of nodes.entries()) say(`node-${i + 1}: http://127.0.0.1:${n.port}/ (pid ${n.pid})`);
  proxy = await startRoundRobinProxy(
    nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    { port: PORT },
  );
  say(`sente-rx cluster demo on ${proxy.url}/  (round-robin over ${NODES} nodes; ?type=ajax to watch polls alternate)`);
  say('Ctrl-C stops everything.');
  if (RUN_MS > 0) setTimeout(() => void stop(`CLUSTER_RUN_MS=${RUN_MS}`).finally(() => process.exit(0)), RUN_MS);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  await stop('start failed');
  process.exit(1);
}
