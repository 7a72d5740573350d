// The child side of the orchestrator link: servers and load generators answer commands over the
// Node IPC channel and exit when the orchestrator goes away, so no run can leave processes behind.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import type { ChildEvent, ChildReply, Command } from './types.js';

export type Handler = (args: unknown) => unknown;

/** Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC), comparable across processes. */
export function nowMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/** User + system CPU time of this process, in microseconds. */
export function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads the JSON configuration the orchestrator passes as the first argument. */
export function childConfig<T>(): T {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('expected a JSON configuration as the first argument');
  return JSON.parse(raw) as T;
}

export function emit(ev: ChildEvent): void {
  process.send?.(ev);
}

/**
 * SENTE_BENCH_CPU_PROF=DIR: each child profiles its CPU between the odd and the next even `mark`
 * (the measured window of a phase) and writes `DIR/<title>.<pid>.<n>.cpuprofile` (V8's format:
 * open it in Chrome DevTools or speedscope).
 */
function profiler(): (() => void) | undefined {
  const dir = process.env['SENTE_BENCH_CPU_PROF'];
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  let marks = 0;
  return () => {
    marks += 1;
    if (marks % 2 === 1) {
      session.post('Profiler.enable', () => session.post('Profiler.start'));
      return;
    }
    session.post('Profiler.stop', (err, res) => {
      if (err === null) writeFileSync(path.join(dir, `${path.basename(process.argv[1] ?? 'child', ".js")}.${process.pid}.${marks / 2}.cpuprofile`), JSON.stringify(res.profile));
    });
  };
}

export function serveCommands(handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('must run as a child process with an IPC channel');
  const onMark = profiler();
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw) => {
    const msg = raw as Command;
    if (typeof msg !== 'object' || msg === null || typeof msg.cmd !== 'string') return;
    const handler = handlers[msg.cmd];
    if (msg.cmd === 'mark') onMark?.();
    // A negative id is a notification (the push credit): no answer, to keep IPC traffic down.
    const answer = (reply: ChildReply): void => {
      if (msg.id >= 0 && process.connected) process.send?.(reply);
    };
    if (!handler) {
      answer({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(msg.args))
      .then(
        (result) => answer({ id: msg.id, ok: true, result: result ?? null }),
        (err: unknown) => answer({ id: msg.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
}
