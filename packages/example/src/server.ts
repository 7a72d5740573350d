/**
 * The sente-rx example server: plain node:http, an in-memory cookie session, and one chsk server.
 * A port of Sente's example project (example-project/src/example/server.clj).
 *
 *   GET  /          the page (the session's CSRF token embedded in a <meta> tag)
 *   GET  /session   { uid, csrfToken } — lets the page recover after the server forgot its session
 *   POST /login     { uid } with X-CSRF-Token: sets the session's uid (the page then reconnects)
 *   GET  /chsk      Ajax poll or WebSocket handshake     POST /chsk  Ajax send
 *   GET  /app.js, /app.js.map, /style.css               the bundled page code and stylesheet
 *
 * `npm start` at the repository root builds everything and runs dist/server.js (PORT, default 3000).
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isChskError, type Logger } from '@sente-rx/core';
import { startServerChskRouter, type ServerChskHandlers, type ServerOptions } from '@sente-rx/server';
import { requestPath } from '@sente-rx/server/node';
import { redisBroker } from '@sente-rx/redis';
import { catchError, map, of } from 'rxjs';
import { createExampleChsk, type ExampleChsk, type ExampleServerMsg } from './chsk-server.js';
import { ConnectionBreaker } from './connection-breaker.js';
import { BROADCAST_COUNT, BROADCAST_LOOP_MS, UID_PATTERN, type ExampleHandshakeData, type SessionInfo } from './events.js';
import { type Sessions, SessionStore, SignedCookieSessions } from './session.js';

export interface ExampleServerOptions {
  /** `0` picks a free port. @default 3000 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Where app.js, style.css and index.html are. @default the `public/` folder beside this module (dist/public) */
  readonly publicDir?: string;
  /**
   * Sessions survive a restart only if the caller passes the same store again; nodes of a cluster
   * share signed-cookie sessions (`SignedCookieSessions`). @default a new in-memory store
   */
  readonly sessions?: Sessions;
  /** Extra chsk server options (timers, limits); the session-based ones are set here. */
  readonly chsk?: Omit<ServerOptions<http.IncomingMessage>, 'userId' | 'csrfToken' | 'handshakeData'>;
  /** One line per notable server event. @default console.log with a timestamp */
  readonly log?: (line: string) => void;
}

export interface ExampleServer {
  /** e.g. `http://127.0.0.1:3000` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const CHSK_PATH = '/chsk';
/** How long the server waits for a tab to answer `example/confirm`. */
const CONFIRM_TIMEOUT_MS = 30_000; // 30 s
const MAX_LOGIN_BODY_BYTES = 1_024;

const STATIC_FILES: Readonly<Record<string, readonly [file: string, contentType: string]>> = {
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.js.map': ['app.js.map', 'application/json; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

// No inline script or style anywhere, so the policy can be strict. 'self' covers ws:// to the same host.
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
} as const;

const defaultLog = (line: string): void => console.log(`${new Date().toISOString().slice(11, 23)} ${line}`);

export async function startExampleServer(options: ExampleServerOptions = {}): Promise<ExampleServer> {
  const log = options.log ?? defaultLog;
  const publicDir = options.publicDir ?? fileURLToPath(new URL('./public/', import.meta.url));
  const sessions = options.sessions ?? new SessionStore();
  const breaker = new ConnectionBreaker(CHSK_PATH, (clientId) => log(`client ${clientId.slice(0, 8)} is back on a new connection`));
  const serverStartedAt = Date.now();
  let loopTimer: ReturnType<typeof setInterval> | undefined;
  let loopCount = 0;
  let broadcastRun = 0;

  const logger = options.chsk?.logger ?? lineLogger(log);
  const chsk: ExampleChsk = createExampleChsk({
    ...options.chsk,
    logger,
    // The session is the whole auth story: its uid (set by POST /login) and its CSRF token.
    // A request whose session the store does not know gets no reference token, so it is refused
    // (403); the page then fetches a fresh session from GET /session and reconnects.
    userId: (req) => sessions.get(req)?.uid,
    csrfToken: (req) => sessions.get(req)?.csrfToken,
    handshakeData: (): ExampleHandshakeData => ({ loop: loopTimer !== undefined, serverStartedAt }),
  });

  function toggleLoop(): boolean {
    if (loopTimer === undefined) {
      loopTimer = setInterval(() => chsk.broadcast(['example/broadcast-loop', { n: ++loopCount, at: Date.now() }]), BROADCAST_LOOP_MS);
    } else {
      clearInterval(loopTimer);
      loopTimer = undefined;
    }
    const on = loopTimer !== undefined;
    chsk.broadcast(['example/loop-state', { on }]);
    return on;
  }

  /**
   * The server's event router (Sente's `-event-msg-handler` multimethod). Every event was checked
   * against the contract before it got here, so the data is typed and trusted in shape; a
   * handler's return value is the reply, and a handler that throws cannot take the server down.
   */
  const handlers: ServerChskHandlers<ExampleServerMsg> = {
    'chsk/uidport-open': (msg) => log(`uid ${msg.data} connected`),
    'chsk/uidport-close': (msg) => log(`uid ${msg.data} disconnected`),
    'example/hello': (msg) => log(`hello from ${msg.uid} (client ${msg.clientId.slice(0, 8)}, ${msg.request.transport}), no reply asked`),
    'example/echo': (msg) => ({ echoed: msg.data, uid: msg.uid, transport: msg.request.transport }),
    'example/test-broadcast': () => {
      const run = ++broadcastRun;
      const uids = [...chsk.connectedUids$.value.any];
      log(`test broadcast #${run}: ${BROADCAST_COUNT} events to every client (${uids.length} user(s))`);
      for (let i = 0; i < BROADCAST_COUNT; i++) chsk.broadcast(['example/broadcast', { run, i, of: BROADCAST_COUNT }]);
      return { run, count: BROADCAST_COUNT, uids };
    },
    'example/toggle-loop': (msg) => {
      const on = toggleLoop();
      log(`broadcast loop ${on ? 'on' : 'off'} (by ${msg.uid})`);
      return { on };
    },
    'example/connected-uids': () => {
      const { any, ws, ajax } = chsk.connectedUids$.value;
      return { any: [...any].sort(), ws: [...ws].sort(), ajax: [...ajax].sort() };
    },
    'example/push': (msg) => {
      const { to, text } = msg.data;
      if (!UID_PATTERN.test(to)) return { error: `not a uid: ${JSON.stringify(to.slice(0, 40))}` };
      chsk.send(to, ['example/push', { from: msg.uid, text }]);
      return { to, online: chsk.connectedUids$.value.any.has(to) };
    },
    'example/break': (msg) => {
      const n = breaker.break(msg.clientId, msg.data.mode);
      log(`break (${msg.data.mode}) for client ${msg.clientId.slice(0, 8)} of ${msg.uid}: ${n} socket(s)`);
    },
    // A server→client request: ask the very tab that clicked, and reply with its answer.
    'example/ask-me': (msg) =>
      chsk.request({ uid: msg.uid, clientId: msg.clientId }, ['example/confirm', { question: msg.data.question }], { timeoutMs: CONFIRM_TIMEOUT_MS }).pipe(
        map((answer) => ({ answer })),
        catchError((err: unknown) => of({ error: isChskError(err) ? `${err.code}: ${err.message}` : String(err) })),
      ),
    // A broadcast: every connected client, named or anonymous, on every transport.
    'example/note': (msg) => {
      chsk.broadcast(['example/note', { from: msg.uid, text: msg.data.text }]);
      return { sent: true };
    },
  };
  const subscription = startServerChskRouter(chsk.recv$, handlers, {
    logger,
    errorHandler: (err, msg) => log(`handler error for ${msg.id}: ${err instanceof Error ? err.stack : String(err)}`),
  });

  async function onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // requestPath never throws, whatever the request line (new URL(req.url, base) does).
    const pathname = requestPath(req);
    if (pathname === CHSK_PATH) {
      if (req.method === 'POST') return chsk.ajaxPost(req, res);
      breaker.watchRequest(req, res);
      return chsk.ajaxGetOrWsHandshake(req, res);
    }
    if (req.method === 'GET' && pathname === '/') return sendPage(req, res);
    if (req.method === 'GET' && pathname === '/session') {
      const s = sessions.getOrCreate(req, res);
      return sendJson(res, 200, { uid: s.uid ?? null, csrfToken: s.csrfToken } satisfies SessionInfo);
    }
    if (pathname === '/login') {
      if (req.method !== 'POST') return sendText(res, 405, 'Use POST', { Allow: 'POST' });
      return login(req, res);
    }
    const file = req.method === 'GET' ? STATIC_FILES[pathname] : undefined;
    if (file !== undefined) return sendStatic(res, file[0], file[1]);
    return sendText(res, 404, 'Not found');
  }

  async function sendPage(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const session = sessions.getOrCreate(req, res);
    const template = await readPublic('index.html');
    if (template === undefined) return sendText(res, 500, `No index.html in ${publicDir}: run \`npm run build\` first.`);
    const html = template.toString('utf8').replaceAll('{{csrfToken}}', escapeHtml(session.csrfToken));
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(html);
  }

  async function login(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const session = sessions.get(req);
    const token = req.headers['x-csrf-token'];
    if (session === undefined || !SessionStore.csrfMatches(session, typeof token === 'string' ? token : undefined)) {
      return sendText(res, 403, 'Bad CSRF token (or unknown session: GET /session for a new one)');
    }
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return sendText(res, 415, 'Send JSON');
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, MAX_LOGIN_BODY_BYTES));
    } catch (err) {
      return sendText(res, 400, err instanceof Error ? err.message : 'Bad body');
    }
    const uid = typeof body === 'object' && body !== null ? (body as { uid?: unknown }).uid : undefined;
    if (uid !== null && (typeof uid !== 'string' || !UID_PATTERN.test(uid))) {
      return sendText(res, 400, 'uid must be null (log out) or 1-32 characters of A-Z a-z 0-9 . _ @ -');
    }
    const next = sessions.setUid(session, uid ?? undefined, res);
    log(uid === null ? `logout (was ${session.uid ?? 'anonymous'})` : `login as ${uid}`);
    return sendJson(res, 200, { uid: next.uid ?? null, csrfToken: next.csrfToken } satisfies SessionInfo);
  }

  async function readPublic(file: string): Promise<Buffer | undefined> {
    try {
      return await readFile(path.join(publicDir, file));
    } catch {
      return undefined;
    }
  }

  async function sendStatic(res: http.ServerResponse, file: string, contentType: string): Promise<void> {
    const body = await readPublic(file);
    if (body === undefined) return sendText(res, 404, `${file} is missing from ${publicDir}: run \`npm run build\` first.`);
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': contentType, 'Cache-Control': 'no-cache' });
    res.end(body);
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      log(`request error ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) sendText(res, 500, 'Internal error');
      else res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  // attach matches the path with requestPath (no request line makes it throw) and answers every
  // upgrade no listener takes with 400. The breaker's watcher is our only other upgrade listener
  // and never takes a socket, so there is nothing to wait for: unhandledUpgradeMs 0.
  chsk.attach(server, { path: CHSK_PATH, unhandledUpgradeMs: 0 });
  const unwatchUpgrades = breaker.watchUpgrades(server);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? 'localhost' : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    close: () =>
      (closing ??= (async () => {
        if (loopTimer !== undefined) clearInterval(loopTimer);
        loopTimer = undefined;
        // The watcher would only keep tracking sockets of clients reconnecting mid-shutdown (attach's
        // listener stays and refuses them with 503).
        unwatchUpgrades();
        const closed = new Promise<void>((resolve) => server.close(() => resolve())); // no new connections
        breaker.destroyAll();
        await chsk.close(); // 1001 to every WebSocket; held Ajax polls answered
        subscription.unsubscribe();
        server.closeAllConnections();
        await closed;
      })()),
  };
}

function sendText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(value));
}

async function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new Error(`Body larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The chsk server's warnings and errors on the console (debug and info stay quiet). */
function lineLogger(log: (line: string) => void): Logger {
  const line = (level: string) => (msg: string, data?: Record<string, unknown>) =>
    log(`[chsk ${level}] ${msg}${data === undefined ? '' : ` ${JSON.stringify(data)}`}`);
  const quiet = (): void => undefined;
  return { debug: quiet, info: quiet, warn: line('warn'), error: line('error') };
}

// ---- main: `node dist/server.js` -------------------------------------------------------------

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`PORT must be an integer 0-65535, got ${process.env.PORT}`);
    process.exit(1);
  }
  // As one node of `npm run start:cluster` (src/cluster.ts): sessions in signed cookies every node
  // can read, the Redis broker, a name on every log line, and the port reported to the parent.
  const secret = process.env.SESSION_SECRET;
  const name = process.env.NODE_NAME;
  const log = name === undefined ? undefined : (line: string): void => defaultLog(`[${name}] ${line}`);
  const redisUrl = process.env.REDIS_URL;
  const broker = redisUrl === undefined ? undefined : redisBroker({ url: redisUrl, prefix: process.env.REDIS_PREFIX ?? 'sente-rx-example', logger: lineLogger(log ?? defaultLog) });
  const server = await startExampleServer({
    port,
    host: process.env.HOST ?? '127.0.0.1',
    ...(secret === undefined ? {} : { sessions: new SignedCookieSessions(secret) }),
    ...(log === undefined ? {} : { log }),
    ...(broker === undefined ? {} : { chsk: { broker } }),
  });
  // The server does not close a broker it was given: the app does, after the server.
  const shutdown = (): Promise<void> => server.close().then(() => broker?.close());
  if (process.send !== undefined) {
    process.send({ port: server.port });
    process.on('disconnect', () => void shutdown().finally(() => process.exit(0)));
  } else {
    console.log(`sente-rx example on ${server.url}/  (transport: ${server.url}/?type=ws | ?type=ajax | ?type=auto)`);
    console.log('Open a second window (or a private one) to be a second client or user. Ctrl-C stops.');
  }
  const stop = (): void => {
    if (process.send === undefined) console.log('stopping…');
    shutdown().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
