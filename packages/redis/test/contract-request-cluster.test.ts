/**
 * A server→client request with a typed contract across a two-node redisBroker cluster (issue 12):
 * node A asks a client that node B holds; the client's reply crosses Redis back to A, which checks
 * it against the contract's reply schema (as on one server, packages/server/test/contract-server.test.ts):
 * a valid reply resolves with the schema's output, an invalid one fails with `chsk/error` and its
 * issues, and no reply fails with `chsk/timeout` on A's clock (a ManualScheduler: it expires only
 * when the test advances it).
 *
 * The nodes are in this process (as in contract-cluster.test.ts) because the test hands each
 * server its contract and A its scheduler.
 *
 * Without redis-server this file skips loudly, except under CI=true, where it fails.
 */
import type { IncomingMessage } from 'node:http';
import { ChskError, defineEvents, isChskError } from '@sente-rx/core';
import type { ServerOptions } from '@sente-rx/server';
import { filter, firstValueFrom, type Observable, take, timeout } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManualScheduler, type RawWs, startServer, type TestServer, useFixtures } from '@sente-rx/fixtures';
import { RedisServer, redisAvailable } from '@sente-rx/fixtures/redis-server';
import { redisBroker, type RedisBroker } from '../src/index.js';

const available = redisAvailable();

const events = defineEvents({
  client: {},
  server: {
    // The reply schema transforms: A resolving with the trimmed string shows the value went through it.
    'app/confirm': { data: z.object({ q: z.string() }), reply: z.string().transform((s) => s.trim()) },
  },
});

type Req = [string, [string, unknown]];
const isReq = (e: unknown): e is Req => Array.isArray(e) && e[0] === 'chsk/req';
/** The `chsk/req` entries pushed to a raw client so far. */
const reqsOf = (raw: RawWs): Req[] => raw.received.flatMap((m) => (Array.isArray(m) && m[1] === null && Array.isArray(m[0]) ? (m[0] as unknown[]) : [])).filter(isReq);

interface Outcome {
  readonly value?: unknown;
  readonly error?: unknown;
}
/** What an Observable settles with, as a value: `settled`, and `now()` (undefined until then). */
function settle(o: Observable<unknown>): { readonly settled: Promise<Outcome>; readonly now: () => Outcome | undefined } {
  let result: Outcome | undefined;
  const settled = new Promise<Outcome>((resolve) =>
    o.subscribe({
      next: (value) => resolve((result = { value })),
      error: (error: unknown) => resolve((result = { error })),
    }),
  );
  return { settled, now: () => result };
}

describe.skipIf(!available)('a typed server→client request across two redisBroker nodes', () => {
  const fx = useFixtures(); // per test: the raw clients (the servers live for the file)
  let redis: RedisServer | undefined;
  const brokers: RedisBroker[] = [];
  let a: TestServer;
  let b: TestServer;
  const clockA = new ManualScheduler();

  beforeAll(async () => {
    redis = await RedisServer.start();
    const opts = { url: redis.url, prefix: `crq${process.pid}` };
    brokers.push(redisBroker(opts), redisBroker(opts));
    await Promise.all(brokers.map((br) => firstValueFrom(br.status$.pipe(filter((s) => s === 'ready'), take(1), timeout(10_000)))));
    const start = (broker: RedisBroker, extra: ServerOptions<IncomingMessage> = {}): Promise<TestServer> =>
      startServer({ sendBufMs: { ws: 0 }, broker, events, ...extra } as ServerOptions<IncomingMessage>);
    a = await start(brokers[0]!, { scheduler: clockA });
    b = await start(brokers[1]!);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    for (const br of brokers) await br.close();
    await redis?.stop();
  });

  /** A raw client of `uid` on node B, open (its handshake waited for B's interest in the uid). */
  async function clientOnB(uid: string): Promise<RawWs> {
    const raw = fx.rawWs(b.port, { uid });
    await raw.handshake();
    return raw;
  }

  /** Node A asks `raw`'s client; resolves with the request's outcome and the reqId the client got. */
  async function askFromA(raw: RawWs, uid: string, n: number): Promise<{ outcome: ReturnType<typeof settle>; reqId: string }> {
    const outcome = settle(a.chsk.request({ uid, clientId: raw.clientId }, ['app/confirm', { q: `#${n}` }], { timeoutMs: 5_000 }));
    await raw.next(() => reqsOf(raw).length >= n);
    const [reqId, event] = reqsOf(raw)[n - 1]![1];
    expect(event).toEqual(['app/confirm', { q: `#${n}` }]);
    return { outcome, reqId };
  }

  it('a valid reply resolves on A with the reply schema output', async () => {
    const raw = await clientOnB('typed-ok');
    const { outcome, reqId } = await askFromA(raw, 'typed-ok', 1);
    raw.sendJson([['chsk/reply', [reqId, '  yes  ']], null]);
    expect(await outcome.settled).toEqual({ value: 'yes' });
    await raw.close();
  });

  it('an invalid reply fails on A with chsk/error and the issues', async () => {
    const raw = await clientOnB('typed-bad');
    const { outcome, reqId } = await askFromA(raw, 'typed-bad', 1);
    raw.sendJson([['chsk/reply', [reqId, 42]], null]);
    const { error } = await outcome.settled;
    expect(error).toBeInstanceOf(ChskError);
    expect((error as ChskError).code).toBe('chsk/error');
    expect((error as ChskError).issues?.length).toBeGreaterThan(0);
    // The same client still gets answered after a refused reply.
    const next = await askFromA(raw, 'typed-bad', 2);
    raw.sendJson([['chsk/reply', [next.reqId, 'fine']], null]);
    expect(await next.outcome.settled).toEqual({ value: 'fine' });
    await raw.close();
  });

  it('a client that never answers: the request times out on A at timeoutMs of A\'s clock', async () => {
    const raw = await clientOnB('typed-silent');
    const { outcome } = await askFromA(raw, 'typed-silent', 1);
    clockA.advance(4_999);
    expect(outcome.now()).toBeUndefined();
    clockA.advance(1);
    const { error } = await outcome.settled;
    expect(isChskError(error, 'chsk/timeout')).toBe(true);
    await raw.close();
  });
});
