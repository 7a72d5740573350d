/**
 * The client↔server contract cases, once per transport, against any backend that looks like one
 * server to a client: a real server on port 0 (contract.test.ts), or a two-node redisBroker cluster
 * behind a round-robin proxy (packages/redis/test/contract-cluster.test.ts). STYLE.md "Tests";
 * DESIGN.md §3; PROTOCOL.md.
 *
 * A backend may exclude a case that does not apply to it (`excluded`, title → reason): it is
 * reported as skipped with the reason in its name, never silently dropped.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ChannelSocketClient, ChskError, type ClientEventMsg, type ClientOptions, type StatePair } from '@sente-rx/client';
import type { ChannelSocketServer, ConnectedUids, ServerEventMsg, ServerOptions } from '@sente-rx/server';
import { filter, firstValueFrom, lastValueFrom, map, type Observable, skip, take, timeout, toArray } from 'rxjs';
import { afterEach, describe, expect, it as vit } from 'vitest';
import { client, collect, whenClosed, whenOpen } from '@sente-rx/fixtures';
import { capturingLogger, current, handled, type HttpEventSource, httpLog, record, waitFor, within } from './contract-support.js';

export type Kind = 'ws' | 'ajax' | 'auto';

/** What the cases need of a server: one node, or a cluster seen through its proxy. */
export interface ContractServer {
  /** The server API the app uses: with a cluster, recv$ of every node, and the sends of one. */
  readonly chsk: Pick<ChannelSocketServer, 'recv$' | 'send'> & { readonly connectedUids$: Observable<ConnectedUids> };
  /** Where clients connect. */
  readonly port: number;
  /** The HTTP requests and upgrades that reach the server (every node of a cluster). */
  readonly server: HttpEventSource;
  /** Waits for the first event-msg with this id (and predicate) on recv$, replayed from the start. */
  next(id: string, pred?: (m: ServerEventMsg) => boolean, ms?: number): Promise<ServerEventMsg>;
  stop(): Promise<void>;
}

export interface ContractBackend {
  /** Shown in the describe title and in the reason of an excluded case. */
  readonly name: string;
  /** A new server with these options; on `port` when given (a restart on the same address). */
  start(options: ServerOptions<IncomingMessage>, port?: number): Promise<ContractServer>;
  /** @default ws, ajax, auto */
  readonly transports?: readonly { readonly type: Kind; readonly actual: 'ws' | 'ajax' }[];
  /** Cases that do not apply to this backend: title → why. */
  readonly excluded?: Readonly<Record<string, string>>;
}

const TRANSPORTS: readonly { readonly type: Kind; readonly actual: 'ws' | 'ajax' }[] = [
  { type: 'ws', actual: 'ws' },
  { type: 'ajax', actual: 'ajax' },
  { type: 'auto', actual: 'ws' },
];

const BASE: ServerOptions<IncomingMessage> = {
  handshakeData: (req) => ({ motd: 'hi', uid: new URL(req.url ?? '/', 'http://x').searchParams.get('uid') }),
  // Well above a re-poll's delay on a loaded box: a client whose next poll comes later than this
  // is dropped with its pending events (PROTOCOL.md §4), which is not what these tests are about.
  reconnectGraceMs: { ws: 1_000, ajax: 2_000 },
};

/** Settles with the error a send Observable fails with (or throws when it does not fail). */
function failure(obs: ReturnType<ChannelSocketClient['send']>): Promise<ChskError> {
  return handled(
    firstValueFrom(obs, { defaultValue: 'completed' }).then(
      (v) => {
        throw new Error(`expected a failure, got ${JSON.stringify(v)}`);
      },
      (err: unknown) => {
        if (!(err instanceof ChskError)) throw err;
        return err;
      },
    ),
  );
}

/** Registers the contract cases for `backend`, one describe per transport. */
export function contractSuite(backend: ContractBackend, title = 'contract over $type'): void {
  describe.each<{ type: Kind; actual: 'ws' | 'ajax' }>([...(backend.transports ?? TRANSPORTS)])(title, ({ type, actual }) => {
    const servers: ContractServer[] = [];
    const clients: ChannelSocketClient[] = [];

    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      for (const s of servers.splice(0)) await s.stop();
    });

    async function server(opts: ServerOptions<IncomingMessage> = {}, port?: number): Promise<ContractServer> {
      const s = await backend.start({ ...BASE, ...opts }, port);
      servers.push(s);
      return s;
    }

    /** A case of the suite; one the backend excludes is reported as skipped, with its reason. */
    const it = (title: string, fn: () => Promise<void>, ms?: number): void => {
      const reason = backend.excluded?.[title];
      if (reason === undefined) vit(title, fn, ms);
      else vit.skip(`${title} [does not apply to ${backend.name}: ${reason}]`, fn);
    };

    function connect(srv: ContractServer, uid: string, opts: ClientOptions = {}, csrf: Parameters<typeof client>[2] = null) {
      const c = client(srv.port, { type, uid, ...opts }, csrf);
      clients.push(c);
      return { c, rec: record(c) };
    }

    it('handshakes: state pairs, chsk/handshake, and chsk/state events equal to state$', async () => {
      const srv = await server();
      const { c, rec } = connect(srv, 'alice');
      expect(c.state.open).toBe(false);
      expect(c.state.type).toBe(type);
      const hs = await waitFor(rec.events, 'chsk/handshake');
      expect(hs.data).toEqual(['alice', { motd: 'hi', uid: 'alice' }, true]);

      const opens = rec.states.filter(([, s]) => s.opened);
      expect(opens).toHaveLength(1);
      const [old, now] = opens[0]!;
      expect(old.open).toBe(false);
      expect(now).toMatchObject({ open: true, opened: true, openChanged: true, firstOpen: true, everOpened: true, type: actual, uid: 'alice' });
      expect(now.handshakeData).toEqual({ motd: 'hi', uid: 'alice' });
      expect(now.closed).toBeUndefined();
      expect(c.state).toMatchObject({ open: true, type: actual, uid: 'alice' });

      // Every state change is also a chsk/state event, in the same order, with the same pairs.
      expect(rec.data('chsk/state')).toEqual(rec.states);
      expect(rec.states.length).toBeGreaterThan(0);
      // The open state is published before the handshake event (Sente §5.2).
      const order: ClientEventMsg[] = [];
      rec.events.subscribe((m) => order.push(m)).unsubscribe();
      const openIdx = order.findIndex((m) => m.id === 'chsk/state' && (m.data as StatePair)[1].opened === true);
      expect(openIdx).toBeGreaterThanOrEqual(0);
      expect(order.findIndex((m) => m.id === 'chsk/handshake')).toBeGreaterThan(openIdx);
    });

    it('state$.value and getValue() are the current pair, as on a BehaviorSubject', async () => {
      const srv = await server();
      const { c, rec } = connect(srv, 'alice');
      await whenOpen(c);
      const last = rec.states[rec.states.length - 1]!;
      expect(current(c.state$)).toBe(last);
      expect(c.state$.getValue()).toBe(last);
      expect(c.state$.value).toBe(last);
      expect(c.state$.value[1]).toBe(c.state);
    });

    it('send with timeoutMs gets the reply', async () => {
      const srv = await server();
      srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.({ got: m.data, uid: m.uid }));
      const { c } = connect(srv, 'alice');
      await whenOpen(c);
      await expect(firstValueFrom(c.send(['test/echo', { n: 42 }], { timeoutMs: 3_000 }))).resolves.toEqual({ got: { n: 42 }, uid: 'alice' });
      // Several requests in flight at once each get their own reply.
      const replies = await Promise.all([1, 2, 3, 4, 5].map((n) => firstValueFrom(c.send(['test/echo', n], { timeoutMs: 3_000 }))));
      expect(replies).toEqual([1, 2, 3, 4, 5].map((n) => ({ got: n, uid: 'alice' })));
      expect(c.pendingRequests).toBe(0);
    });

    it('send without timeoutMs reaches the server, asks for no reply and completes empty', async () => {
      const srv = await server();
      const { c } = connect(srv, 'alice');
      await whenOpen(c);
      const emitted = await lastValueFrom(c.send(['test/note', { text: 'hi' }]).pipe(toArray()));
      expect(emitted).toEqual([]);
      const m = await srv.next('test/note');
      expect(m.event).toEqual(['test/note', { text: 'hi' }]);
      expect(m.uid).toBe('alice');
      expect(m.clientId).toBe(c.clientId);
      expect(m.request.transport).toBe(actual);
      expect(m.reply).toBeUndefined();
      expect(c.pendingRequests).toBe(0);
    });

    it('a handler that never replies fails the request with chsk/timeout within timeoutMs', async () => {
      // lpTimeoutMs (the server's hold on an Ajax POST) is far above the client's timeout.
      const srv = await server({ lpTimeoutMs: 10_000 });
      const { c } = connect(srv, 'alice');
      await whenOpen(c);
      // The exact timing is pinned in virtual time (marble.test.ts); here: the outcome on real sockets.
      const err = await failure(c.send(['test/ignored', 1], { timeoutMs: 200 }));
      expect(err.code).toBe('chsk/timeout');
      expect((await srv.next('test/ignored')).reply).toBeTypeOf('function');
      expect(c.pendingRequests).toBe(0);
      expect(c.state.open).toBe(true);
    });

    it('a reply after unsubscribe is ignored and leaves no pending request', async () => {
      const srv = await server();
      const logger = capturingLogger();
      srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
      const { c } = connect(srv, 'alice', { logger });
      await whenOpen(c);
      const seen: unknown[] = [];
      const sub = c.send(['test/slow', 1], { timeoutMs: 5_000 }).subscribe({ next: (v) => seen.push(v), error: (e: unknown) => seen.push(e), complete: () => seen.push('complete') });
      const m = await srv.next('test/slow');
      expect(c.pendingRequests).toBe(1);
      sub.unsubscribe();
      expect(c.pendingRequests).toBe(0);
      // PROTOCOL.md §6: a reply nobody waits for is ignored and logged at debug.
      const ignored = handled(firstValueFrom(logger.entries$.pipe(filter((e) => e.level === 'debug' && e.data?.['cbId'] !== undefined), take(1), timeout(3_000))));
      m.reply!('late');
      await ignored;
      expect(seen).toEqual([]);
      expect(c.pendingRequests).toBe(0);
      // The channel is unaffected and the next request gets its own reply.
      await expect(firstValueFrom(c.send(['test/echo', 'next'], { timeoutMs: 3_000 }))).resolves.toBe('next');
      expect(seen).toEqual([]);
      expect(c.pendingRequests).toBe(0);
    });

    it('a push to a uid reaches every client of that uid and no client of another uid', async () => {
      const srv = await server();
      const a1 = connect(srv, 'alice');
      const a2 = connect(srv, 'alice');
      const b = connect(srv, 'bob');
      await Promise.all([whenOpen(a1.c), whenOpen(a2.c), whenOpen(b.c)]);
      const got1 = waitFor(a1.rec.events, 'test/push');
      const got2 = waitFor(a2.rec.events, 'test/push');
      srv.chsk.send('alice', ['test/push', { to: 'alice' }]);
      expect((await got1).data).toEqual({ to: 'alice' });
      expect((await got2).data).toEqual({ to: 'alice' });
      // Bob's first push must be his own, sent after alice's arrived.
      const gotB = waitFor(b.rec.events, 'test/push');
      srv.chsk.send('bob', ['test/push', { to: 'bob' }]);
      expect((await gotB).data).toEqual({ to: 'bob' });
      expect(b.rec.data('test/push')).toEqual([{ to: 'bob' }]);
      expect(a1.rec.data('test/push')).toEqual([{ to: 'alice' }]);
      expect(a2.rec.data('test/push')).toEqual([{ to: 'alice' }]);
    });

    it('1,000 pushes to one uid arrive exactly once each, in send order', async () => {
      const srv = await server();
      const { c, rec } = connect(srv, 'alice');
      await whenOpen(c);
      const got = handled(collect(rec.events.pipe(filter((m) => m.id === 'test/seq'), map((m) => m.data)), 1_000, 10_000));
      for (let i = 0; i < 1_000; i++) {
        // Bursts with flushes and yields in between, so the events span many batches (and, over
        // Ajax, pushes that land while no poll is held).
        srv.chsk.send('alice', ['test/seq', i], { flush: i % 250 === 249 });
        if (i % 100 === 99) await new Promise((r) => setImmediate(r));
      }
      const data = await got;
      expect(data).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    });

    it('comes back by itself after the server restarts on the same port, and requests work again', async () => {
      const srv1 = await server();
      srv1.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(['srv1', m.data]));
      const { c, rec } = connect(srv1, 'alice');
      await whenOpen(c);
      await expect(firstValueFrom(c.send(['test/echo', 1], { timeoutMs: 3_000 }))).resolves.toEqual(['srv1', 1]);
      await srv1.stop();
      await whenClosed(c);
      const reopened = rec.nextState(([, s]) => s.opened === true);
      const srv2 = await server({}, srv1.port);
      srv2.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(['srv2', m.data]));
      const hs = waitFor(rec.events, 'chsk/handshake', (m) => (m.data as unknown[])[2] === false);
      const [, now] = await reopened;
      expect(now).toMatchObject({ open: true, type: actual, uid: 'alice' });
      expect(now.firstOpen).toBeUndefined(); // opened before
      // The new process has a new log: the client's position cannot be resumed (PROTOCOL.md §9).
      expect((await hs).data).toEqual(['alice', { motd: 'hi', uid: 'alice' }, false, false]);
      expect(c.state.recovered).toBe(false);
      await expect(firstValueFrom(c.send(['test/echo', 2], { timeoutMs: 3_000 }))).resolves.toEqual(['srv2', 2]);
      const push = waitFor(rec.events, 'test/push');
      srv2.chsk.send('alice', ['test/push', 'after restart']);
      expect((await push).data).toBe('after restart');
      // The close in between was reported as not requested.
      const closes = rec.states.filter(([, s]) => s.closed);
      expect(closes.length).toBeGreaterThanOrEqual(1);
      expect(closes[0]![1].lastClose?.reason).toMatch(/^(clean|unexpected)$/);
    });

    it('disconnect() closes with reason requested-disconnect and does not reconnect', async () => {
      const srv = await server({ reconnectGraceMs: { ws: 50, ajax: 100 } });
      const log = httpLog(srv.server);
      const { c, rec } = connect(srv, 'alice');
      await whenOpen(c);
      await srv.next('chsk/uidport-open', (m) => m.uid === 'alice');
      const closed = rec.nextState(([, s]) => s.closed === true);
      c.disconnect();
      const [, now] = await closed;
      expect(now).toMatchObject({ open: false, closed: true, openChanged: true });
      expect(now.lastClose?.reason).toBe('requested-disconnect');
      expect(now.udtNextReconnect).toBeUndefined();
      await expect(failure(c.send(['test/x', 1]))).resolves.toMatchObject({ code: 'chsk/closed' });
      await expect(failure(c.send(['test/x', 1], { timeoutMs: 1_000 }))).resolves.toMatchObject({ code: 'chsk/closed' });
      // The server sees the client go (grace 50/100 ms) ...
      await srv.next('chsk/uidport-close', (m) => m.uid === 'alice');
      expect(current(srv.chsk.connectedUids$).any.has('alice')).toBe(false);
      // ... and the client does not come back: no new attempt, no state change (10× the backoff).
      const attempts = log.hits.filter((h) => h.clientId === c.clientId).length;
      expect(await within(c.state$.pipe(skip(1)), 300)).toBeUndefined();
      expect(log.hits.filter((h) => h.clientId === c.clientId).length).toBe(attempts);
      expect(c.state.open).toBe(false);
    });

    it('reconnect() closes with reason requested-reconnect and opens again', async () => {
      const srv = await server();
      srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
      const { c, rec } = connect(srv, 'alice');
      await whenOpen(c);
      const closed = rec.nextState(([, s]) => s.closed === true);
      const opened = rec.nextState(([, s]) => s.opened === true);
      const hs = waitFor(rec.events, 'chsk/handshake', (m) => (m.data as unknown[])[2] === false);
      c.reconnect();
      expect((await closed)[1].lastClose?.reason).toBe('requested-reconnect');
      const [, now] = await opened;
      expect(now).toMatchObject({ open: true, type: actual, uid: 'alice', everOpened: true });
      expect(now.firstOpen).toBeUndefined();
      // The client's own view: not its first handshake; nothing was missed (PROTOCOL.md §9).
      expect((await hs).data).toEqual(['alice', { motd: 'hi', uid: 'alice' }, false, true]);
      expect(c.state.recovered).toBe(true);
      await expect(firstValueFrom(c.send(['test/echo', 'again'], { timeoutMs: 3_000 }))).resolves.toBe('again');
    });

    it('reconnect() after disconnect() opens again', async () => {
      const srv = await server();
      srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
      const { c, rec } = connect(srv, 'alice');
      await whenOpen(c);
      c.disconnect();
      expect(c.state.open).toBe(false);
      const opened = rec.nextState(([, s]) => s.opened === true);
      c.reconnect();
      expect((await opened)[1]).toMatchObject({ open: true, type: actual });
      await expect(firstValueFrom(c.send(['test/echo', 'back'], { timeoutMs: 3_000 }))).resolves.toBe('back');
    });

    it('close() completes recv$ and state$, and the client stays closed', async () => {
      const srv = await server();
      const log = httpLog(srv.server);
      const { c } = connect(srv, 'alice');
      await whenOpen(c);
      const recvDone = handled(lastValueFrom(c.recv$.pipe(toArray(), timeout(3_000))));
      const stateDone = handled(lastValueFrom(c.state$.pipe(toArray(), timeout(3_000))));
      c.close();
      const states = await stateDone;
      expect(states.at(-1)![1]).toMatchObject({ open: false, closed: true, lastClose: { reason: 'requested-disconnect' } });
      expect((await recvDone).at(-1)?.id).toBe('chsk/state');
      await expect(failure(c.send(['test/x', 1], { timeoutMs: 1_000 }))).resolves.toMatchObject({ code: 'chsk/closed' });
      const seen = log.hits.filter((h) => h.clientId === c.clientId).length;
      c.reconnect(); // a no-op after close()
      expect(c.state.open).toBe(false);
      expect(await within(log.pipe(filter((h) => h.clientId === c.clientId), skip(seen)), 200)).toBeUndefined();
    });

    it("send(uid, ['chsk/close']) makes that uid's clients reconnect, picking up a new uid", async () => {
      // The session's user changes (a login): the server closes the old uid's channels.
      let user = 'anon-1';
      const srv = await server({ userId: () => user });
      const { c, rec } = connect(srv, 'ignored');
      await whenOpen(c);
      expect(c.state.uid).toBe('anon-1');
      const hs = waitFor(rec.events, 'chsk/handshake', (m) => (m.data as unknown[])[0] === 'alice');
      user = 'alice';
      srv.chsk.send('anon-1', ['chsk/close']);
      // Another uid's log: the position of anon-1's cannot be resumed there.
      expect((await hs).data).toEqual(['alice', { motd: 'hi', uid: 'ignored' }, false, false]);
      expect(c.state).toMatchObject({ open: true, uid: 'alice', type: actual });
      const push = waitFor(rec.events, 'test/push');
      srv.chsk.send('alice', ['test/push', 'for alice']);
      expect((await push).data).toBe('for alice');
    });

    it('pending requests fail with chsk/closed on disconnect()', async () => {
      const srv = await server();
      const { c } = connect(srv, 'alice');
      await whenOpen(c);
      const p = failure(c.send(['test/never', 1], { timeoutMs: 10_000 }));
      await srv.next('test/never');
      c.disconnect();
      await expect(p).resolves.toMatchObject({ code: 'chsk/closed' });
      expect(c.pendingRequests).toBe(0);
    });

    it('pending requests fail with chsk/closed when the connection breaks', async () => {
      const srv = await server();
      const { c, rec } = connect(srv, 'alice');
      await whenOpen(c);
      const p = failure(c.send(['test/never', 1], { timeoutMs: 10_000 }));
      await srv.next('test/never');
      const reopened = rec.nextState(([, s]) => s.opened === true);
      c.breakConnection();
      await expect(p).resolves.toMatchObject({ code: 'chsk/closed' });
      expect(c.pendingRequests).toBe(0);
      await reopened; // and it comes back
    });

    it('pending requests fail with chsk/closed when the server drops the connection', async () => {
      const srv = await server({ lpTimeoutMs: 10_000 });
      // The connection that carries the request: the WebSocket, or the Ajax POST.
      const carriers: Duplex[] = [];
      srv.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => carriers.push(socket));
      srv.server.on('request', (req: IncomingMessage) => req.method === 'POST' && carriers.push(req.socket));
      const { c, rec } = connect(srv, 'alice');
      await whenOpen(c);
      const p = failure(c.send(['test/never', 1], { timeoutMs: 10_000 }));
      await srv.next('test/never');
      const closed = rec.nextState(([, s]) => s.closed === true);
      const reopened = rec.nextState(([, s]) => s.opened === true);
      expect(carriers.length).toBeGreaterThan(0);
      for (const s of carriers) s.destroy();
      // The client counts the channel as lost (closed, unexpected) ...
      expect((await closed)[1].lastClose?.reason).toBe('unexpected');
      // ... so the request fails as closed, whichever transport carried it.
      await expect(p).resolves.toMatchObject({ code: 'chsk/closed' });
      expect(c.pendingRequests).toBe(0);
      await reopened;
    });

    describe('CSRF', () => {
      const csrf: ServerOptions<IncomingMessage> = { csrfToken: () => 'secret' };

      it('a client with the right token opens, and its requests pass the check', async () => {
        const srv = await server(csrf);
        srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
        const { c } = connect(srv, 'alice', {}, 'secret');
        await whenOpen(c);
        expect(c.state.type).toBe(actual);
        await expect(firstValueFrom(c.send(['test/echo', 'ok'], { timeoutMs: 3_000 }))).resolves.toBe('ok');
        c.send(['test/note', 'ok']).subscribe({ error: () => undefined });
        expect((await srv.next('test/note')).data).toBe('ok');
      });

      it('a client with a wrong token is refused (403) once and stops: lastClose unauthorized, no retry (issue 9 item 8)', async () => {
        const srv = await server(csrf);
        const log = httpLog(srv.server);
        const { c, rec } = connect(srv, 'mallory', {}, 'wrong');
        const [, s] = await rec.nextState(([, x]) => x.lastClose?.reason === 'unauthorized');
        expect(s.lastClose).toEqual({ udt: expect.any(Number), reason: 'unauthorized', status: 403 });
        expect(s.udtNextReconnect).toBeUndefined();
        expect(log.hits.filter((h) => h.clientId === c.clientId)).toHaveLength(1);
        expect(rec.states.some(([, x]) => x.open)).toBe(false);
        expect(rec.data('chsk/handshake')).toEqual([]);
        expect(current(srv.chsk.connectedUids$).any.has('mallory')).toBe(false);
      });

      it('a token function is re-read on every connect: reconnect() after a refusal uses the fresh token', async () => {
        const srv = await server(csrf);
        let token = 'wrong';
        let reads = 0;
        const { c, rec } = connect(srv, 'alice', {}, () => {
          reads++;
          return token;
        });
        await rec.nextState(([, x]) => x.lastClose?.reason === 'unauthorized');
        const readsBefore = reads;
        token = 'secret';
        const opened = rec.nextState(([, x]) => x.open);
        c.reconnect(); // what the app does once it has refreshed its session
        await opened;
        expect(reads).toBeGreaterThan(readsBefore);
        // And again after a requested reconnect: a token that went bad stops it again.
        token = 'wrong';
        const refused = rec.nextState(([, x]) => x.lastClose?.reason === 'unauthorized');
        c.reconnect();
        await refused;
        expect(c.state.open).toBe(false);
        token = 'secret';
        const back = rec.nextState(([, x]) => x.open);
        c.reconnect();
        await back;
      });
    });
  });
}
