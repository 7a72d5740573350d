/**
 * `@sente-rx/client/ws` (issue 10): the WebSocket-only entry, the shared client without Ajax,
 * `auto` or server→client requests. Against a real server: it connects, sends, gets replies and
 * pushes; a server request is refused with chsk/error at once. Its browser bundle leaves out what
 * it does not use, checked against the full entry's bundle (which must still carry it).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isChskError } from '@sente-rx/core';
import { createChannelSocketClient } from '@sente-rx/client/ws';
import { build, type Metafile } from 'esbuild';
import { filter, firstValueFrom, type SchedulerAction, type Subscription } from 'rxjs';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { capturingLogger, type CustomServer, record, startCustomServer, waitFor } from './contract-support.js';
import { timerScheduler } from '../src/timer-scheduler.js';

let srv: CustomServer | undefined;
const clients: { close(): void }[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await srv?.stop();
  srv = undefined;
});

describe('@sente-rx/client/ws against a real server', () => {
  it('connects over WebSocket, sends, gets a reply and a push', async () => {
    srv = await startCustomServer();
    const s = srv;
    s.received.subscribe((m) => {
      if (m.id === 'app/echo') m.reply?.({ echoed: m.data });
    });
    const c = createChannelSocketClient('/chsk', null, { host: `127.0.0.1:${s.port}`, WebSocket, params: { uid: 'alice' }, logger: capturingLogger() });
    clients.push(c);
    const rec = record(c);
    const hs = await waitFor(rec.events, 'chsk/handshake');
    expect(hs.data).toEqual(['alice', null, true]);
    expect(c.state.type).toBe('ws');
    expect(c.state.open).toBe(true);
    await expect(firstValueFrom(c.send(['app/echo', { n: 1 }], { timeoutMs: 5_000 }))).resolves.toEqual({ echoed: { n: 1 } });
    const push = waitFor(rec.events, 'app/news');
    s.chsk.send('alice', ['app/news', { hot: true }]);
    expect((await push).data).toEqual({ hot: true });
  });

  it('answers a server request chsk/error at once (not at the timeout) and delivers nothing', async () => {
    srv = await startCustomServer();
    const s = srv;
    const logger = capturingLogger();
    const c = createChannelSocketClient('/chsk', null, { host: `127.0.0.1:${s.port}`, WebSocket, params: { uid: 'bob' }, logger });
    clients.push(c);
    const rec = record(c);
    await waitFor(rec.events, 'chsk/handshake');
    let sub: Subscription | undefined;
    const outcome = new Promise<unknown>((resolve) => {
      // A timeout far beyond the test's: a chsk/timeout here would fail the test by its own timeout.
      sub = s.chsk.request({ uid: 'bob', clientId: c.clientId }, ['app/confirm', { q: 'sure?' }], { timeoutMs: 600_000 }).subscribe({ next: resolve, error: resolve });
    });
    const err = await outcome;
    sub?.unsubscribe();
    expect(isChskError(err) && err.code).toBe('chsk/error');
    expect(rec.data('app/confirm')).toEqual([]);
    const warned = await firstValueFrom(logger.entries$.pipe(filter((e) => e.msg.startsWith('sente-rx: refused a server request'))));
    expect(warned).toMatchObject({ level: 'warn', data: { id: 'app/confirm' } });
  });

  it("accepts only type 'ws'", () => {
    expect(() => createChannelSocketClient('/chsk', null, { type: 'ajax' as 'ws', host: '127.0.0.1:1', WebSocket })).toThrow(new TypeError("type must be 'ws', got ajax"));
  });
});

describe('timerScheduler (the /ws default)', () => {
  it('runs an action, lets it reschedule itself, and never runs one unsubscribed before its time', async () => {
    const runs: string[] = [];
    const cancelled = timerScheduler.schedule(() => runs.push('cancelled'), 1);
    cancelled.unsubscribe();
    await new Promise<void>((resolve) => {
      // Same delay, scheduled after the cancelled one: it fires after the cancelled one would have.
      timerScheduler.schedule(function (this: SchedulerAction<number>, n: number) {
        runs.push(`tick ${n}`);
        if (n < 2) this.schedule(n + 1, 1);
        else resolve();
      }, 1, 0);
    });
    expect(runs).toEqual(['tick 0', 'tick 1', 'tick 2']);
    expect(timerScheduler.now()).toBeGreaterThan(0);
  });
});

// ---- the bundle ------------------------------------------------------------------------------------

const here = path.dirname(fileURLToPath(import.meta.url));

/** A browser bundle of `entry` (plus the `also` source) from sources, as an app's bundler would build it. */
async function bundle(entry: string, also = ''): Promise<{ code: string; inputs: string[] }> {
  const result = await build({
    stdin: { contents: `export { createChannelSocketClient } from '${entry}';\n${also}`, resolveDir: here, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['sente-rx-source', 'module'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const out = Object.values((result.metafile as Metafile).outputs)[0]?.inputs ?? {};
  return { code: result.outputFiles[0]?.text ?? '', inputs: Object.entries(out).filter(([, v]) => v.bytesInOutput > 0).map(([f]) => f) };
}

/** What only the full entry carries: the Ajax transport, `auto` and its storage, server requests, RxJS's schedulers. */
const FULL_ONLY = {
  files: [/client\/src\/transports\/ajax\.ts$/, /client\/src\/auto-policy\.ts$/, /client\/src\/fallback-storage\.ts$/, /core\/src\/ajax-form\.ts$/, /rxjs\/.*\/AsyncAction\.js$/],
  strings: ['sente-rx:ajax-fallback:', 'an Ajax poll answer does not unpack', 'refused a malformed server request'],
};

/** Failure messages of the contract's validation (core contract.ts: validateIncoming, validateReply, runSchema, validationError). */
const VALIDATION_STRINGS = ['the contract lists no such', 'declares no reply', 'sente-rx validates synchronously', 'failed validation:'];

describe('the /ws browser bundle', () => {
  it('has no Ajax transport, auto policy, server requests, Node built-ins or ws; the full one has them', async () => {
    const [ws, full] = await Promise.all([bundle('@sente-rx/client/ws'), bundle('@sente-rx/client')]);
    for (const re of FULL_ONLY.files) {
      expect(ws.inputs.filter((f) => re.test(f)), String(re)).toEqual([]);
      expect(full.inputs.some((f) => re.test(f)), `the full bundle has ${String(re)}`).toBe(true);
    }
    for (const s of FULL_ONLY.strings) {
      expect(ws.code.includes(s), s).toBe(false);
      expect(full.code.includes(s), `the full bundle has ${s}`).toBe(true);
    }
    for (const b of [ws, full]) expect(b.inputs.filter((f) => /(^|\/)node_modules\/ws\/|^node:|^(http|https|net|tls|crypto|stream|zlib|events)$/.test(f))).toEqual([]);
    expect(ws.code.length).toBeLessThan(full.code.length);
  });

  it("leaves the contract's validation out of both entries unless the app imports defineEvents (which carries it)", async () => {
    const withContract = "export { defineEvents } from '@sente-rx/core';";
    const [ws, full, wsTyped, fullTyped] = await Promise.all([
      bundle('@sente-rx/client/ws'),
      bundle('@sente-rx/client'),
      bundle('@sente-rx/client/ws', withContract),
      bundle('@sente-rx/client', withContract),
    ]);
    for (const s of VALIDATION_STRINGS) {
      for (const b of [ws, full]) expect(b.code.includes(s), s).toBe(false);
      for (const b of [wsTyped, fullTyped]) expect(b.code.includes(s), `the bundle with defineEvents has ${s}`).toBe(true);
    }
  });
});
