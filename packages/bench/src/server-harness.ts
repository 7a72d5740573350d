// The part of every server under test that is not the implementation: it answers the
// orchestrator's commands (memory after GC, CPU and counter samples) and runs the push loop, so the
// three servers differ only in how they accept connections, echo and push.

import type { Server as HttpServer } from 'node:http';
import { childConfig, cpuUs, emit, nowMs, serveCommands, sleep } from './child.js';
import type { MemorySample, PushPayload, PushStartArgs, PushStopResult, ServerMark } from './types.js';

/** What each implementation's server provides to the harness. */
export interface BenchServer {
  readonly port: number;
  /** Replies sent to echo requests so far. */
  repliesSent(): number;
  /** Pushes one event to every client of `uid`. */
  push(uid: string, payload: PushPayload): void;
  close(): Promise<void>;
}

/** The configuration the orchestrator passes to a server process. */
export interface ServerConfig {
  /** Extra implementation options, e.g. the sente-rx batching windows. */
  readonly options?: Record<string, unknown>;
}

interface PushLoop {
  readonly args: PushStartArgs;
  readonly uids: readonly string[];
  readonly startedAt: number;
  running: boolean;
  scheduled: boolean;
  next: number;
  sends: number;
  deliveries: number;
  credited: number;
}

/** Listen options shared by all servers: loopback only, and a backlog that takes a burst of 2,000 connects. */
export const LISTEN = { host: '127.0.0.1', port: 0, backlog: 4096 } as const;

/** Listens on LISTEN and returns the port the OS chose. */
export async function listen(httpServer: HttpServer): Promise<number> {
  await new Promise<void>((resolve) => httpServer.listen(LISTEN, resolve));
  const address = httpServer.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

export async function runServer(start: (config: ServerConfig) => Promise<BenchServer>): Promise<void> {
  const config = childConfig<ServerConfig>();
  const server = await start(config);
  let loop: PushLoop | undefined;

  const schedule = (p: PushLoop, delayMs: number): void => {
    if (p.scheduled || !p.running) return;
    p.scheduled = true;
    if (delayMs > 0) setTimeout(() => pump(p), delayMs);
    else setImmediate(() => pump(p));
  };

  // Sends while the window allows (and, when paced, while behind the target rate), in slices of at
  // most 256 sends so the event loop keeps serving the sockets.
  const pump = (p: PushLoop): void => {
    p.scheduled = false;
    if (!p.running) return;
    const { clientsPerUser, window, ratePerSec, maxMs } = p.args;
    const now = nowMs();
    if (now - p.startedAt > maxMs) {
      p.running = false;
      return;
    }
    const target = ratePerSec === undefined ? Number.POSITIVE_INFINITY : (ratePerSec * (now - p.startedAt)) / 1000;
    let slice = 256;
    while (slice-- > 0 && p.deliveries - p.credited + clientsPerUser <= window && p.deliveries < target) {
      server.push(p.uids[p.next]!, { t: nowMs() });
      p.next = (p.next + 1) % p.uids.length;
      p.sends += 1;
      p.deliveries += clientsPerUser;
    }
    const windowOpen = p.deliveries - p.credited + clientsPerUser <= window;
    if (!windowOpen) return; // the next credit reschedules
    if (p.deliveries >= target) schedule(p, 1);
    else schedule(p, 0);
  };

  serveCommands({
    async mem(): Promise<MemorySample> {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) throw new Error('the server must run with --expose-gc');
      for (let i = 0; i < 4; i++) {
        gc();
        await sleep(30);
      }
      const m = process.memoryUsage();
      return { heapUsed: m.heapUsed, rss: m.rss };
    },
    mark(): ServerMark {
      return { tMs: nowMs(), cpuUs: cpuUs(), repliesSent: server.repliesSent(), pushDeliveries: loop?.deliveries ?? 0 };
    },
    'push-start'(raw: unknown): null {
      const args = raw as PushStartArgs;
      if (loop?.running) throw new Error('a push loop is already running');
      const uids = Array.from({ length: args.users }, (_, k) => `u${k}`);
      loop = { args, uids, startedAt: nowMs(), running: true, scheduled: false, next: 0, sends: 0, deliveries: 0, credited: 0 };
      schedule(loop, 0);
      return null;
    },
    credit(raw: unknown): null {
      const { delivered } = raw as { delivered: number };
      if (loop) {
        loop.credited = Math.max(loop.credited, delivered);
        schedule(loop, 0);
      }
      return null;
    },
    'push-stop'(): PushStopResult {
      if (!loop) return { sends: 0, deliveries: 0 };
      loop.running = false;
      const result = { sends: loop.sends, deliveries: loop.deliveries };
      loop = undefined;
      return result;
    },
    async close(): Promise<null> {
      await server.close();
      setTimeout(() => process.exit(0), 50);
      return null;
    },
  });
  emit({ type: 'ready', port: server.port });
}
