/**
 * sente-rx in an Express 5 app, complete: a cookie session, CSRF, login, and the channel socket
 * over WebSocket and Ajax. Copy it as a starting point.
 *
 *   GET  /session   { uid, csrfToken }: the page (or a Node client) learns its CSRF token
 *   POST /login     { uid } with X-CSRF-Token: logs the session in; its clients then reconnect
 *   GET  /chsk      Ajax poll or handshake (WebSocket upgrades arrive through chsk.attach)
 *   POST /chsk      an Ajax client's event
 *
 * Run: `npm run build -w @sente-rx/example-express && npm start -w @sente-rx/example-express` (PORT, default 3001).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { type ChannelSocketServer, createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { csrfMatches, Sessions, sessionOf } from './session.js';

const UID = /^[A-Za-z0-9._@-]{1,32}$/;

export interface ExpressExample {
  readonly url: string;
  /** The channel socket server (its connectedUids$, send, ...), for code and tests beside the app. */
  readonly chsk: ChannelSocketServer;
  close(): Promise<void>;
}

export async function startExpressExample(port = 3001, host = '127.0.0.1'): Promise<ExpressExample> {
  const sessions = new Sessions();
  const chsk = createChannelSocketServer(nodeAdapter(), {
    // Both read the session the cookie names. No session → no reference token → 403.
    userId: (req) => sessions.get(req)?.uid,
    csrfToken: (req) => sessions.get(req)?.csrfToken,
  });

  chsk.recv$.subscribe((msg) => {
    // Client data is untrusted: check it before use.
    if (msg.id === 'app/whoami') msg.reply?.({ uid: msg.uid, transport: msg.request.transport });
    if (msg.id === 'app/shout') {
      const text = typeof msg.data === 'string' ? msg.data.slice(0, 200) : '';
      chsk.broadcast(['app/shouted', { from: msg.uid, text }]); // every connected client, named or anonymous
    }
  });

  const app = express();
  app.disable('x-powered-by');
  // The channel routes come before any body parser: ajaxPost reads the raw body itself.
  app.get('/chsk', chsk.ajaxGetOrWsHandshake);
  app.post('/chsk', chsk.ajaxPost);

  app.use(sessions.middleware);
  app.get('/session', (_req, res) => {
    const s = sessionOf(res);
    res.json({ uid: s.uid ?? null, csrfToken: s.csrfToken });
  });
  app.post('/login', express.json({ limit: '1kb' }), (req, res) => {
    const s = sessionOf(res);
    if (!csrfMatches(s, req.get('x-csrf-token'))) return void res.status(403).send('Bad CSRF token');
    const uid: unknown = (req.body as { uid?: unknown } | undefined)?.uid;
    if (typeof uid !== 'string' || !UID.test(uid)) return void res.status(400).send('uid: 1-32 of A-Z a-z 0-9 . _ @ -');
    s.uid = uid;
    res.json({ uid, csrfToken: s.csrfToken });
  });

  const server = http.createServer(app);
  chsk.attach(server, { path: '/chsk' });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}`,
    chsk,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await chsk.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  const example = await startExpressExample(Number(process.env.PORT ?? 3001));
  console.log(`sente-rx Express example on ${example.url}/session`);
  process.once('SIGINT', () => void example.close().then(() => process.exit(0)));
}
