/**
 * The client↔server contract suite (packages/client/test/contract-suite.ts) over a two-node
 * cluster: two servers, each with its own redisBroker (recovery on, the default; and off, over
 * WebSocket) on one private
 * redis-server, behind the round-robin proxy (no sticky sessions: every WebSocket and every Ajax
 * request goes to the next node). The clients see one server at the proxy's address; the app
 * listens on both nodes (recv$ merged, replies answered where the event arrived) and sends from
 * the second node, so a send crosses Redis whichever node holds the client.
 *
 * The nodes are in this process (not @sente-rx/fixtures/cluster's child processes) because the
 * cases hand the server functions (handlers that reply, a userId closure, loggers) and read its
 * connectedUids$; over Redis and the proxy they behave as separate processes would.
 *
 * Without redis-server this file skips loudly, except under CI=true, where it fails.
 */
import type { IncomingMessage } from 'node:http';
import type { ServerEventMsg, ServerOptions } from '@sente-rx/server';
import { defer, filter, firstValueFrom, merge, ReplaySubject, take, timeout } from 'rxjs';
import { afterAll, beforeAll, describe } from 'vitest';
import { startServer, type TestServer } from '@sente-rx/fixtures';
import { RedisServer, redisAvailable } from '@sente-rx/fixtures/redis-server';
import { startRoundRobinProxy } from '@sente-rx/fixtures/round-robin-proxy';
import { contractSuite, type ContractServer } from '../../client/test/contract-suite.js';
import type { HttpEventSource } from '../../client/test/contract-support.js';
import { redisBroker, type RedisBroker } from '../src/index.js';

const available = redisAvailable();

let prefixSeq = 0;

describe.skipIf(!available)('the contract over a two-node redisBroker cluster behind a round-robin proxy', () => {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const ready = (b: RedisBroker): Promise<unknown> => firstValueFrom(b.status$.pipe(filter((s) => s === 'ready'), take(1), timeout(10_000)));

  /** Two nodes with a fresh prefix (a new cluster: a new log), and the proxy on `port` if given. */
  async function startCluster(recovery: boolean, options: ServerOptions<IncomingMessage>, port?: number): Promise<ContractServer> {
    if (redis === undefined) throw new Error('redis-server not started');
    const prefix = `cc${process.pid}x${prefixSeq++}`;
    const opts = { url: redis.url, prefix, ...(recovery ? {} : { recovery: false as const }) };
    const brokers = [redisBroker(opts), redisBroker(opts)] as const;
    await Promise.all(brokers.map(ready));
    const nodes: TestServer[] = [];
    for (const broker of brokers) nodes.push(await startServer({ ...options, broker }));
    const [a, b] = nodes as [TestServer, TestServer];
    const proxy = await startRoundRobinProxy(
      nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      port === undefined ? {} : { port },
    );
    const received = new ReplaySubject<ServerEventMsg>();
    const recv$ = merge(a.chsk.recv$, b.chsk.recv$);
    const sub = recv$.subscribe(received);
    // The app reads presence where it saw the last uidport edge: that node's mirror has it
    // (redisBroker applies its own edges first); another node's follows over pub/sub.
    let edgeNode: TestServer = a;
    const edges = nodes.map((n) => n.chsk.recv$.pipe(filter((m) => m.id.startsWith('chsk/uidport-'))).subscribe(() => (edgeNode = n)));
    const on = (event: 'request' | 'upgrade', listener: (...args: never[]) => void): unknown => {
      for (const n of nodes) n.server.on(event, listener as (...args: unknown[]) => void);
      return undefined;
    };
    let stopped = false;
    return {
      chsk: {
        recv$,
        // From the second node: the client is on either (the proxy alternates), so sends cross Redis.
        send: (target, event, opts) => b.chsk.send(target, event, opts),
        connectedUids$: defer(() => edgeNode.chsk.connectedUids$),
      },
      port: proxy.port,
      server: { on } as HttpEventSource,
      next: (id, pred = () => true, ms = 5_000) => firstValueFrom(received.pipe(filter((m) => m.id === id && pred(m)), take(1), timeout(ms))),
      async stop() {
        if (stopped) return;
        stopped = true;
        sub.unsubscribe();
        for (const e of edges) e.unsubscribe();
        await proxy.close();
        for (const n of nodes) await n.stop();
        for (const br of brokers) await br.close();
      },
    };
  }

  contractSuite(
    {
      name: 'a two-node cluster',
      start: (options, port) => startCluster(true, options, port),
      // `auto` settles on ws here as on one server: its choice of transport is not the cluster's business.
      transports: [
        { type: 'ws', actual: 'ws' },
        { type: 'ajax', actual: 'ajax' },
      ],
      excluded: {},
    },
    'cluster contract over $type',
  );

  // Without the log, nothing fills a gap: a push the app makes once the client is open must reach
  // it live (the handshake waits for the node's SUBSCRIBE). WebSocket only: an Ajax client's polls
  // need sticky sessions without the log (redis README), and the proxy has none.
  const NO_RECOVERED_FLAG = 'with recovery: false the handshake has no recovered element and the state no recovered key';
  contractSuite(
    {
      name: 'a two-node cluster with recovery: false',
      start: (options, port) => startCluster(false, options, port),
      transports: [{ type: 'ws', actual: 'ws' }],
      excluded: {
        'comes back by itself after the server restarts on the same port, and requests work again': NO_RECOVERED_FLAG,
        'reconnect() closes with reason requested-reconnect and opens again': NO_RECOVERED_FLAG,
        "send(uid, ['chsk/close']) makes that uid's clients reconnect, picking up a new uid": NO_RECOVERED_FLAG,
      },
    },
    'cluster (recovery: false) contract over $type',
  );
});
