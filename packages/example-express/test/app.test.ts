/**
 * The Express example, driven as a user would: a Node client over ws and over Ajax, with the
 * session cookie and CSRF token the app hands out, logging in and talking through the socket.
 */
import { firstValueFrom, filter, map } from 'rxjs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannelSocketClient, type ChannelSocketClient, type ChskState } from '@sente-rx/client';
import { startExpressExample, type ExpressExample } from '../src/app.js';

let example: ExpressExample;
const clients: ChannelSocketClient[] = [];

beforeAll(async () => {
  example = await startExpressExample(0);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await example.close();
});

/** What a browser gets by loading the page: a session cookie and its CSRF token. */
async function newSession(): Promise<{ cookie: string; csrfToken: string }> {
  const res = await fetch(`${example.url}/session`);
  expect(res.status).toBe(200);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return { cookie, csrfToken };
}

async function login(session: { cookie: string; csrfToken: string }, uid: string, token = session.csrfToken): Promise<number> {
  const res = await fetch(`${example.url}/login`, {
    method: 'POST',
    headers: { cookie: session.cookie, 'x-csrf-token': token, 'content-type': 'application/json' },
    body: JSON.stringify({ uid }),
  });
  return res.status;
}

/** A Node client that sends the session cookie, on the WebSocket handshake and on every Ajax request. */
function connect(type: 'ws' | 'ajax', session: { cookie: string; csrfToken: string }): ChannelSocketClient {
  const { cookie } = session;
  class SessionWebSocket extends WebSocket {
    constructor(url: string) {
      super(url, { headers: { cookie } });
    }
  }
  const client = createChannelSocketClient('/chsk', session.csrfToken, {
    type,
    host: new URL(example.url).host,
    WebSocket: SessionWebSocket,
    headers: { cookie },
  });
  clients.push(client);
  return client;
}

const opened = (c: ChannelSocketClient): Promise<ChskState> =>
  firstValueFrom(
    c.state$.pipe(
      map(([, now]) => now),
      filter((now) => now.open),
    ),
  );

describe.each(['ws', 'ajax'] as const)('the Express example over %s', (type) => {
  it('serves a logged-in user, request/reply and push', async () => {
    const session = await newSession();
    const uid = `user-${type}`;
    expect(await login(session, uid)).toBe(200);
    const client = connect(type, session);
    const state = await opened(client);
    expect(state).toMatchObject({ open: true, type, uid });

    const reply = await firstValueFrom(client.send(['app/whoami'], { timeoutMs: 5_000 }));
    expect(reply).toEqual({ uid, transport: type });

    // The app shouts to connectedUids$. Open means handshaken; over Ajax the server counts the uid
    // once its first poll arrives, which on a loaded machine can come after the shout: await it.
    await firstValueFrom(example.chsk.connectedUids$.pipe(filter((u) => u.any.has(uid))));
    const pushed = firstValueFrom(client.recv$.pipe(filter((m) => m.id === 'app/shouted')));
    client.send(['app/shout', 'hello']).subscribe();
    expect((await pushed).data).toEqual({ from: uid, text: 'hello' });
  });
});

describe('the Express example refuses', () => {
  it('a login without the session\'s CSRF token', async () => {
    expect(await login(await newSession(), 'mallory', 'not-the-token')).toBe(403);
  });

  it('a channel request with the wrong CSRF token, or with no session', async () => {
    const session = await newSession();
    const poll = (headers: Record<string, string>, token: string) =>
      fetch(`${example.url}/chsk?client-id=c1&handshake%3F=true&csrf-token=${token}`, { headers }).then((r) => r.status);
    expect(await poll({ cookie: session.cookie }, 'wrong')).toBe(403);
    expect(await poll({}, session.csrfToken)).toBe(403);
    expect(await poll({ cookie: session.cookie }, session.csrfToken), 'the right token and cookie are accepted').toBe(200);
  });
});
