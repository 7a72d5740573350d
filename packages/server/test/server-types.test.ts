/**
 * The typed server: with `events`, send/broadcast/request/recv$/reply and the router are typed by
 * the contract; without, the API is exactly the untyped one. The root `tsc` run checks the
 * expectTypeOf lines and that every `@ts-expect-error` line is still an error; the runtime parts
 * run the same calls on a server with no host (a core-only adapter), recv$ kept for a late subscriber.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { type ChskEvent, defineEvents, type Packed, silentLogger, SKIP_CSRF_CHECK, type Uid } from '@sente-rx/core';
import {
  type ChannelSocketServer,
  createChannelSocketServer,
  type RequestInfo,
  type SendFn,
  type ServerChannel,
  type ServerCore,
  type ServerEventMsg,
  startServerChskRouter,
} from '@sente-rx/server';
import { firstValueFrom, type Observable, take, toArray } from 'rxjs';

const events = defineEvents({
  client: {
    'chat/post': { data: z.object({ text: z.string() }), reply: z.object({ id: z.number() }) },
    'chat/typing': { data: z.object({ room: z.string() }) },
  },
  server: {
    'app/confirm': { data: z.object({ q: z.string() }), reply: z.boolean() },
    'app/note': { data: z.string() },
  },
});
type C = typeof events;

interface FakeReq {
  readonly uid?: string;
}
const coreAdapter = { bind: (core: ServerCore<FakeReq>) => ({ core }) };

const info: RequestInfo = { transport: 'ws', method: 'GET', url: '/chsk', headers: {}, remoteAddress: '127.0.0.1' };
const view = (clientId: string) => ({ method: 'GET', url: `/chsk?client-id=${clientId}`, query: new URLSearchParams(`client-id=${clientId}`), header: () => undefined });

/** A WebSocket that records what the core sent it. */
class FakeSocket implements ServerChannel {
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: unknown[] = [];
  send(data: Packed): void {
    this.sent.push(JSON.parse(String(data)));
  }
  close(): void {
    this.readyState = 3;
  }
  terminate(): void {
    this.readyState = 3;
  }
}

describe('typed server', () => {
  it('types send, broadcast, request, recv$ and reply from the contract', () => {
    const chsk = createChannelSocketServer(coreAdapter, { events, logger: silentLogger, csrfToken: () => SKIP_CSRF_CHECK });
    expectTypeOf(chsk).toExtend<ChannelSocketServer<C>>();
    expectTypeOf(chsk.send).toEqualTypeOf<SendFn<C>>();

    chsk.send('alice', ['app/note', 'hi']);
    chsk.send({ uid: 'alice', clientId: 'c1' }, ['app/confirm', { q: '?' }]);
    chsk.broadcast(['app/note', 'to all']);
    // Type-level only (never called): what must not compile.
    const mustNotCompile = (): void => {
      // @ts-expect-error an id the contract does not list
      chsk.send('alice', ['app/unknown', 1]);
      // @ts-expect-error wrong data for the id
      chsk.send('alice', ['app/note', 42]);
      // @ts-expect-error a client→server id is not a server push
      chsk.broadcast(['chat/typing', { room: 'r' }]);
      // @ts-expect-error an id without a namespace
      chsk.broadcast(['hello', 'x']);
      // @ts-expect-error app/note declares no reply: it cannot be a request
      chsk.request({ uid: 'alice', clientId: 'c1' }, ['app/note', 'x'], { timeoutMs: 1_000 });
      // @ts-expect-error a request needs { uid, clientId }, not a uid
      chsk.request('alice', ['app/confirm', { q: '?' }], { timeoutMs: 1_000 });
      // @ts-expect-error timeoutMs is required
      chsk.request({ uid: 'alice', clientId: 'c1' }, ['app/confirm', { q: '?' }], {});
    };
    expect(typeof mustNotCompile).toBe('function');

    const r = chsk.request({ uid: 'alice', clientId: 'c1' }, ['app/confirm', { q: 'sure?' }], { timeoutMs: 1_000 });
    expectTypeOf(r).toEqualTypeOf<Observable<boolean>>();
    r.subscribe({ error: () => undefined });

    chsk.recv$.subscribe((m) => {
      expectTypeOf(m).toEqualTypeOf<ServerEventMsg<C>>();
      if (m.id === 'chat/post') {
        expectTypeOf(m.data).toEqualTypeOf<{ text: string }>();
        m.reply?.({ id: 1 });
        // @ts-expect-error the reply of chat/post is { id: number }
        m.reply?.({ id: 'one' });
      } else if (m.id === 'chat/typing') {
        expectTypeOf(m.data).toEqualTypeOf<{ room: string }>();
        expectTypeOf(m.reply).toEqualTypeOf<undefined>();
      } else if (m.id === 'chsk/uidport-open') {
        expectTypeOf(m.data).toEqualTypeOf<Uid>();
      }
      // @ts-expect-error not an id recv$ can carry
      if (m.id === 'app/note') return;
    });

    startServerChskRouter(chsk.recv$, {
      'chat/post': (m) => {
        expectTypeOf(m.data).toEqualTypeOf<{ text: string }>();
        return { id: m.data.text.length };
      },
    }, { logger: silentLogger }).unsubscribe();
    startServerChskRouter(chsk.recv$, {
      // @ts-expect-error the return value is the reply: { id: number }
      'chat/post': () => ({ id: 'not a number' }),
    }, { logger: silentLogger }).unsubscribe();
    expect(typeof chsk.request).toBe('function');
    return chsk.close();
  });

  it('without events the API stays untyped (unknown data, string ids, ChskEvent)', () => {
    const chsk = createChannelSocketServer(coreAdapter, { logger: silentLogger, csrfToken: () => SKIP_CSRF_CHECK });
    expectTypeOf(chsk.send).toEqualTypeOf<SendFn>();
    expectTypeOf(chsk.send).parameter(1).toEqualTypeOf<ChskEvent>();
    expectTypeOf(chsk.request({ uid: 'u', clientId: 'c' }, ['any/thing', 1], { timeoutMs: 1 })).toEqualTypeOf<Observable<unknown>>();
    chsk.recv$.subscribe((m) => {
      expectTypeOf(m.id).toEqualTypeOf<string>();
      expectTypeOf(m.data).toEqualTypeOf<unknown>();
      expectTypeOf(m.reply).toEqualTypeOf<((value: unknown) => void) | undefined>();
    });
    expect(typeof chsk.broadcast).toBe('function');
    return chsk.close();
  });

  it('recv$ keeps what arrives before the first subscriber for it, in order; later subscribers get live msgs only', async () => {
    const chsk = createChannelSocketServer(coreAdapter, { events, logger: silentLogger, csrfToken: () => SKIP_CSRF_CHECK });
    const socket = new FakeSocket();
    const conn = chsk.core.wsOpen(socket, view('c1'), { uid: 'alice' }, info);
    conn.message(JSON.stringify([['chat/typing', { room: 'a' }], null]), false);
    conn.message(JSON.stringify([['chat/typing', { room: 7 }], null]), false); // refused: never kept
    conn.message(JSON.stringify([['chat/typing', { room: 'b' }], null]), false);
    const first = firstValueFrom(chsk.recv$.pipe(take(3), toArray()));
    conn.message(JSON.stringify([['chat/typing', { room: 'c' }], null]), false);
    const got = await first;
    // uidport-open came after the handshake, before the messages; presence is on the server's scheduler (leading edge: at once).
    expect(got.map((m) => (m.id === 'chat/typing' ? m.data.room : m.id))).toEqual(['chsk/uidport-open', 'a', 'b']);
    const late: string[] = [];
    chsk.recv$.subscribe((m) => m.id === 'chat/typing' && late.push(m.data.room));
    conn.message(JSON.stringify([['chat/typing', { room: 'd' }], null]), false);
    expect(late).toEqual(['d']);
    await chsk.close();
  });
});
