/** Test support: real servers on port 0, clients, and waiting on observables (never on sleeps). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SKIP_CSRF_CHECK } from '@sente-rx/core';
import { createChannelSocketClient, type ChannelSocketClient, type ClientEventMsg, type ClientOptions } from '@sente-rx/client';
import { createChannelSocketServer, type ServerEventMsg, type ServerOptions } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import type { IncomingMessage } from 'node:http';
import { filter, firstValueFrom, type Observable, ReplaySubject, take, timeout, toArray } from 'rxjs';
import WebSocket from 'ws';

export type TestServer = Awaited<ReturnType<typeof startServer>>;

export const uidFromQuery = (req: IncomingMessage): string | undefined => new URL(req.url ?? '/', 'http://x').searchParams.get('uid') ?? undefined;

/** A sente-rx server on plain node:http. `recv` replays everything the server received. */
export async function startServer(options: ServerOptions<IncomingMessage> = {}, port = 0) {
  const chsk = createChannelSocketServer(nodeAdapter(), {
    userId: uidFromQuery,
    csrfToken: () => SKIP_CSRF_CHECK,
    ...options,
  });
  const received = new ReplaySubject<ServerEventMsg>();
  chsk.recv$.subscribe(received);
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/chsk') return req.method === 'POST' ? chsk.ajaxPost(req, res) : chsk.ajaxGetOrWsHandshake(req, res);
    res.writeHead(404).end();
  });
  chsk.attach(server, { path: '/chsk' });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const actualPort = (server.address() as AddressInfo).port;
  let stopped = false;
  return {
    chsk,
    server,
    port: actualPort,
    received,
    /** Waits for the first server event-msg with this id (and predicate). */
    next(id: string, pred: (m: ServerEventMsg) => boolean = () => true, ms = 5_000): Promise<ServerEventMsg> {
      return firstValueFrom(received.pipe(filter((m) => m.id === id && pred(m)), take(1), timeout(ms)));
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await chsk.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export function client(port: number, opts: ClientOptions & { uid?: string } = {}, csrf: Parameters<typeof createChannelSocketClient>[1] = null) {
  const { uid, params, ...rest } = opts;
  return createChannelSocketClient('/chsk', csrf, {
    type: 'ws',
    host: '127.0.0.1',
    port,
    protocol: 'http:',
    WebSocket: WebSocket as unknown as ClientOptions['WebSocket'],
    params: { ...params, ...(uid === undefined ? {} : { uid }) },
    backoffMs: () => 20,
    storage: null,
    ...rest,
  });
}

export function whenOpen(c: ChannelSocketClient, ms = 5_000): Promise<void> {
  return firstValueFrom(c.state$.pipe(filter(([, s]) => s.open), take(1), timeout(ms))).then(() => undefined);
}

export function whenClosed(c: ChannelSocketClient, ms = 5_000): Promise<void> {
  return firstValueFrom(c.state$.pipe(filter(([, s]) => !s.open), take(1), timeout(ms))).then(() => undefined);
}

export function nextEvent(c: ChannelSocketClient, id: string, ms = 5_000): Promise<ClientEventMsg> {
  return firstValueFrom(c.recv$.pipe(filter((m) => m.id === id), take(1), timeout(ms)));
}

export function collect<T>(src: Observable<T>, n: number, ms = 5_000): Promise<T[]> {
  return firstValueFrom(src.pipe(take(n), toArray(), timeout(ms)));
}
