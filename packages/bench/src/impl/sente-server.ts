// sente-rx server as the README shows it: plain node:http, the Node adapter, uid from the query,
// CSRF skipped (the load generators are not browsers), default batching windows unless the
// orchestrator overrides them.

import http from 'node:http';
import { SKIP_CSRF_CHECK } from '@sente-rx/core';
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter, requestPath, requestQuery } from '@sente-rx/server/node';
import { listen, runServer, type BenchServer } from '../server-harness.js';

await runServer(async (config): Promise<BenchServer> => {
  const sendBufMs = (config.options?.['sendBufMs'] as { ws: number; ajax: number } | undefined) ?? { ws: 30, ajax: 100 };
  const chsk = createChannelSocketServer(nodeAdapter(), {
    userId: (req: http.IncomingMessage) => requestQuery(req).get('uid') ?? undefined,
    csrfToken: () => SKIP_CSRF_CHECK,
    allowedOrigins: 'all',
    sendBufMs,
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
      chsk.send(uid, ['bench/push', payload]);
    },
    async close() {
      await chsk.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
});
