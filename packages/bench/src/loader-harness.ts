// The part of every load generator that is not the implementation: it opens clients with bounded
// concurrency, runs the one-outstanding-request loops, counts pushes and their latencies, and
// answers the orchestrator's commands. Every loop here stops on a command or a deadline.

import { childConfig, cpuUs, emit, nowMs, serveCommands, sleep } from './child.js';
import { Histogram } from './histogram.js';
import type { ClientKind, ConnectResult, EchoPayload, LoaderMark, PushPayload, Transport } from './types.js';

/** One connected client, as each implementation's adapter exposes it to the harness. */
export interface BenchClient {
  /** Sends `payload` as a request and calls `done` once with the reply or an error. */
  request(payload: EchoPayload, done: (err: unknown, reply?: unknown) => void): void;
  close(): void;
}

export interface ClientOptions {
  readonly port: number;
  readonly uid: string;
  /** Unique across the whole run (used as the sente-rx client id). */
  readonly clientId: string;
  readonly transport: Transport;
  readonly kind: ClientKind;
  readonly onPush: (payload: PushPayload) => void;
  /** Called once per WebSocket frame the client receives (what a fan-out batch costs the client, per frame). */
  readonly onFrame: () => void;
}

/** Opens a client; resolves once the implementation's handshake completed. */
export type ConnectFn = (options: ClientOptions) => Promise<BenchClient>;

export interface LoaderConfig {
  readonly transport: Transport;
  readonly kind: ClientKind;
}

export interface ConnectArgs {
  /** The server's port (load generators start before the server has one). */
  readonly port: number;
  readonly count: number;
  /** Client k (counting from `offset`) belongs to uid `u${k % users}`; `uid` overrides. */
  readonly users: number;
  readonly offset: number;
  readonly uid?: string;
  readonly concurrency: number;
  readonly timeoutMs: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export async function runLoader(connect: ConnectFn): Promise<void> {
  const config = childConfig<LoaderConfig>();
  const clients: BenchClient[] = [];
  const hist = new Histogram();
  let replies = 0;
  let delivered = 0;
  let frames = 0;
  let errors = 0;
  let firstError: string | undefined;
  let running = false;
  let outstanding = 0;
  let drained: (() => void) | undefined;
  let reportTimer: NodeJS.Timeout | undefined;
  let reported = 0;
  let immediate = false;
  let nextClient = 0;

  const noteError = (err: unknown): void => {
    errors += 1;
    firstError ??= err instanceof Error ? err.message : String(err);
  };

  const onPush = (payload: PushPayload): void => {
    delivered += 1;
    hist.record(nowMs() - payload.t);
    if (immediate) {
      // One push at a time: the credit goes back at once, after the latency is recorded.
      reported = delivered;
      emit({ type: 'delivered', total: delivered });
    }
  };

  const onFrame = (): void => {
    frames += 1;
  };

  // One request outstanding per client: the next one leaves when the reply arrives.
  const loop = (client: BenchClient, seq: number): void => {
    if (!running) return;
    outstanding += 1;
    const sentAt = nowMs();
    client.request({ i: seq }, (err, reply) => {
      outstanding -= 1;
      if (err !== null && err !== undefined) noteError(err);
      else if ((reply as EchoPayload | undefined)?.i !== seq) noteError(new Error(`wrong echo: ${JSON.stringify(reply)}`));
      else {
        replies += 1;
        hist.record(nowMs() - sentAt);
      }
      if (running) loop(client, seq + 1);
      else if (outstanding === 0) drained?.();
    });
  };

  serveCommands({
    async connect(raw: unknown): Promise<ConnectResult> {
      const args = raw as ConnectArgs;
      const start = nowMs();
      let opened = 0;
      let failed = 0;
      let err: string | undefined;
      let k = 0;
      const worker = async (): Promise<void> => {
        while (k < args.count) {
          const index = args.offset + k++;
          const uid = args.uid ?? `u${index % args.users}`;
          const clientId = `${process.pid}-${nextClient++}`;
          try {
            const client = await withTimeout(
              connect({ port: args.port, uid, clientId, transport: config.transport, kind: config.kind, onPush, onFrame }),
              args.timeoutMs,
              'connect',
            );
            clients.push(client);
            opened += 1;
          } catch (e) {
            failed += 1;
            err ??= e instanceof Error ? e.message : String(e);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(args.concurrency, args.count)) }, worker));
      return { opened, failed, elapsedMs: nowMs() - start, ...(err === undefined ? {} : { firstError: err }) };
    },
    'reqrep-start'(): null {
      running = true;
      for (const c of clients) loop(c, 1);
      return null;
    },
    async 'reqrep-stop'(raw: unknown): Promise<{ replies: number; errors: number; outstanding: number }> {
      const { timeoutMs } = raw as { timeoutMs: number };
      running = false;
      if (outstanding > 0) {
        await Promise.race([new Promise<void>((resolve) => (drained = resolve)), sleep(timeoutMs)]);
      }
      drained = undefined;
      return { replies, errors, outstanding };
    },
    'push-listen'(raw: unknown): null {
      const { on, immediate: now } = raw as { on: boolean; immediate?: boolean };
      clearInterval(reportTimer);
      reportTimer = undefined;
      immediate = on && now === true;
      if (on && !immediate) {
        // Credit for the server's closed push loop, relayed by the orchestrator.
        reportTimer = setInterval(() => {
          if (delivered !== reported) {
            reported = delivered;
            emit({ type: 'delivered', total: delivered });
          }
        }, 5);
      }
      return null;
    },
    mark(): LoaderMark {
      return { tMs: nowMs(), cpuUs: cpuUs(), replies, delivered, frames, errors, hist: hist.take() };
    },
    totals(): { replies: number; delivered: number; errors: number; firstError: string | null; clients: number } {
      return { replies, delivered, errors, firstError: firstError ?? null, clients: clients.length };
    },
    async 'close-all'(): Promise<null> {
      running = false;
      for (const c of clients.splice(0)) {
        try {
          c.close();
        } catch (e) {
          noteError(e);
        }
      }
      await sleep(100);
      return null;
    },
    close(): null {
      for (const c of clients.splice(0)) c.close();
      setTimeout(() => process.exit(0), 50);
      return null;
    },
  });
  emit({ type: 'ready' });
}
