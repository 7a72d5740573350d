/**
 * A client request the server refuses by its contract (PROTOCOL.md §8), end to end with the real
 * server and client: over WebSocket the server pushes `["chsk/issues", [cbId, issues]]` and then
 * replies `chsk/error`, and the client's send errors with a `ChskError` carrying those issues (the
 * entry never reaches recv$); over Ajax the refusal is a bare `chsk/error` (no issues on that wire).
 * The client here has no contract: a client does not validate its own sends, so a client with one
 * only differs in the types, which forbid this data at compile time.
 */
import { type ChskError, defineEvents, isChskError, silentLogger } from '@sente-rx/core';
import type { ClientEventMsg } from '@sente-rx/client';
import { recordingLogger, useFixtures, whenOpen } from '@sente-rx/fixtures';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const events = defineEvents({
  client: { 'chat/post': { data: z.object({ text: z.string().max(5) }), reply: z.object({ id: z.number() }) } },
  server: {},
});

const failure = async (p: Promise<unknown>): Promise<ChskError> => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!isChskError(e)) throw new Error(`expected a ChskError, got ${String(e)}`);
  return e;
};

describe('a request refused by the server contract', () => {
  const fx = useFixtures();

  it('over WebSocket: the ChskError carries the issues (path and message); chsk/issues never reaches recv$', async () => {
    const srv = await fx.startServer({ events, logger: silentLogger });
    const log = recordingLogger();
    const c = fx.client(srv.port, { type: 'ws', uid: 'u1', logger: log });
    const seen: ClientEventMsg[] = [];
    c.recv$.subscribe((m) => seen.push(m));
    await whenOpen(c);
    const err = await failure(firstValueFrom(c.send(['chat/post', { text: 'far too long' }], { timeoutMs: 5_000 })));
    expect(err.code).toBe('chsk/error');
    expect(err.issues).toHaveLength(1);
    expect(err.issues?.[0]?.path).toEqual(['text']);
    expect(err.issues?.[0]?.message).toMatch(/5/); // zod: "Too big: expected string to have <=5 characters"
    expect(err.message).toContain('text:');
    expect(seen.map((m) => m.id)).not.toContain('chsk/issues');
    expect(log.entries.filter((e) => e.level === 'warn' && /reserved/.test(e.msg))).toEqual([]);

    // The same client's valid request still gets its reply: nothing of the refusal lingers.
    srv.chsk.recv$.subscribe((m) => {
      if (m.id === 'chat/post') m.reply?.({ id: 7 });
    });
    await expect(firstValueFrom(c.send(['chat/post', { text: 'ok' }], { timeoutMs: 5_000 }))).resolves.toEqual({ id: 7 });
  });

  it('over Ajax: a bare chsk/error, without issues (the Ajax reply cannot carry them)', async () => {
    const srv = await fx.startServer({ events, logger: silentLogger });
    const c = fx.client(srv.port, { type: 'ajax', uid: 'u2', logger: silentLogger });
    await whenOpen(c);
    const err = await failure(firstValueFrom(c.send(['chat/post', { text: 'far too long' }], { timeoutMs: 5_000 })));
    expect(err.code).toBe('chsk/error');
    expect(err.issues).toBeUndefined();
  });
});
