// The child side of the orchestrator link: servers and load generators answer commands over the
// Node IPC channel and exit when the orchestrator goes away, so no run can leave processes behind.

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

export function serveCommands(handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('must run as a child process with an IPC channel');
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw) => {
    const msg = raw as Command;
    if (typeof msg !== 'object' || msg === null || typeof msg.cmd !== 'string') return;
    const handler = handlers[msg.cmd];
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
