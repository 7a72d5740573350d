// sente-rx server as the README shows it: plain node:http, the Node adapter, uid from the query,
// CSRF skipped (the load generators are not browsers), the server's default batching unless the
// orchestrator overrides it (`sendBufMs`, or `flush: true` on every push).

import http from 'node:http';
import { defineEvents, type Packer, SKIP_CSRF_CHECK } from '@sente-rx/core';
import { z } from 'zod';
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter, requestPath, requestQuery } from '@sente-rx/server/node';
import { listen, runServer, type BenchServer } from '../server-harness.js';

// SENTE_BENCH_CONTRACT=1: the same server with a typed contract, so every request and reply is
// validated (issue 11: the cost of validation, server CPU per request/reply with and without).
const events = process.env['SENTE_BENCH_CONTRACT'] === '1'
  ? defineEvents({
      client: { 'bench/echo': { data: z.object({ i: z.number() }), reply: z.object({ i: z.number() }) } },
      server: { 'bench/push': { data: z.unknown() } },
    })
  : undefined;

await runServer(async (config): Promise<BenchServer> => {
  const sendBufMs = config.options?.['sendBufMs'] as { ws: number; ajax: number } | undefined;
  // The `sente-rx/flush` variant: every push leaves at once instead of waiting for a batch.
  const sendOptions = config.options?.['flush'] === true ? { flush: true } : undefined;
  // The packers scenario: a packer exported by @sente-rx/packers, by name (JSON by default).
  const packerName = config.options?.['packer'];
  // The presence scenario: no keep-alive pings (they cost per held socket per second, not per connect).
  const keepAlive = config.options?.['keepAlive'] !== false;
  const packer = typeof packerName === 'string' ? ((await import('@sente-rx/packers')) as unknown as Record<string, Packer>)[packerName] : undefined;
  if (typeof packerName === 'string' && packer === undefined) throw new Error(`@sente-rx/packers exports no ${packerName}`);
  const chsk = createChannelSocketServer(nodeAdapter(), {
    ...(packer ? { packer } : {}),
    userId: (req: http.IncomingMessage) => requestQuery(req).get('uid') ?? undefined,
    csrfToken: () => SKIP_CSRF_CHECK,
    allowedOrigins: 'all',
    ...(sendBufMs ? { sendBufMs } : {}),
    ...(keepAlive ? {} : { wsKeepAliveMs: 0 }),
    ...(events ? { events } : {}),
  });
  const httpServer = http.createServer((req, res) => {
    if (requestPath(req) === '/chsk') {
      if (req.method === 'POST') chsk.ajaxPost(req, res);
      else chsk.ajaxGetOrWsHandshake(req, res);
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  chsk.attach(httpServer, { path: '/chsk' });
  let replies = 0;
  chsk.recv$.subscribe((msg) => {
    if (msg.id === 'bench/echo' && msg.reply) {
      msg.reply(msg.data);
      replies += 1;
    }
  });

  const port = await listen(httpServer);

  return {
    port,
    repliesSent: () => replies,
    push(uid, payload) {
      chsk.send(uid, ['bench/push', payload] as const, sendOptions);
    },
    async close() {
      await chsk.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
});
