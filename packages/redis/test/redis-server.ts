/**
 * Test harness: a private redis-server per test file, on a free loopback port (never 6379), with
 * persistence off so a SIGKILL + restart is a Redis that lost its data. Also a loopback TCP proxy
 * that can be cut, to make one broker lose Redis while the others keep it (a dead node).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';

function findBinary(): string | undefined {
  if (process.env.REDIS_SERVER !== undefined) return process.env.REDIS_SERVER;
  if (existsSync('/usr/bin/redis-server')) return '/usr/bin/redis-server';
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return found === '' ? undefined : found;
}

export const REDIS_BIN = findBinary();

/**
 * True when a redis-server binary is there. Without one the Redis suites skip loudly, except
 * under CI=true, where a missing binary is a failure (.ci/run installs Debian's redis-server).
 */
export function redisAvailable(): boolean {
  if (REDIS_BIN !== undefined) return true;
  if (process.env.CI === 'true') throw new Error('redis-server not found and CI=true: install Debian\'s redis-server (.ci/run does)');
  console.warn('\n*** SKIPPING the Redis broker tests: no redis-server binary (install Debian\'s redis-server or set REDIS_SERVER) ***\n');
  return false;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port === 6379 ? freePort().then(resolve, reject) : resolve(port)));
    });
  });
}

const READY_BOUND_MS = 10_000;

export class RedisServer {
  readonly port: number;
  #proc: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a server on a free port (or on `port`, e.g. one a broker is already retrying). */
  static async start(port?: number): Promise<RedisServer> {
    const s = new RedisServer(port ?? (await freePort()));
    await s.restart();
    return s;
  }

  /** (Re)starts the process on the same port and resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (REDIS_BIN === undefined) throw new Error('redis-server not found');
    if (this.#proc !== undefined) throw new Error('redis-server is already running');
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'];
    const proc = spawn(REDIS_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = proc;
    proc.once('exit', () => {
      if (this.#proc === proc) this.#proc = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      const bound = setTimeout(() => reject(new Error(`redis-server on ${this.port} not ready within ${READY_BOUND_MS} ms`)), READY_BOUND_MS);
      const attempt = (): void => {
        const sock = connect(this.port, '127.0.0.1');
        sock.once('connect', () => {
          sock.write('PING\r\n');
        });
        sock.once('data', (d) => {
          sock.destroy();
          if (d.toString().startsWith('+PONG')) {
            clearTimeout(bound);
            resolve();
          } else setTimeout(attempt, 20);
        });
        sock.once('error', () => {
          sock.destroy();
          if (this.#proc === proc) setTimeout(attempt, 20);
        });
      };
      proc.once('exit', (code) => {
        clearTimeout(bound);
        reject(new Error(`redis-server exited with ${String(code)}`));
      });
      attempt();
    });
  }

  /** SIGKILL: no goodbye, no data kept. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await gone;
  }

  stop(): Promise<void> {
    return this.kill();
  }
}

/** A loopback TCP proxy to `targetPort`; `cut()` closes it and every connection through it. */
export async function startProxy(targetPort: number): Promise<{ readonly url: string; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : 0);
    }),
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    cut: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
