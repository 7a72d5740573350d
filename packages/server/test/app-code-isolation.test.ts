/**
 * Issue 9 item 4: app code that throws never takes the process down. A `recv$` subscriber that
 * throws (RxJS would rethrow it from a setTimeout: `uncaughtException`, and Node exits), an
 * operator chain that errors without an error handler, and the request-typed options are each
 * logged with the event id and the client, and every other client keeps being served.
 */
import { map, Subject } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Broker, type ConnectedUids, inMemoryBroker } from '@sente-rx/server';
import { chskPath, freshClientId, httpRequest, recordingLogger, type RecordingLogger, type TestServer, useFixtures } from '@sente-rx/fixtures';

const escaped: unknown[] = [];
const onEscape = (err: unknown): void => void escaped.push(err);

beforeEach(() => {
  escaped.length = 0;
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});
afterEach(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

/**
 * RxJS reports an error nobody handled from `setTimeout(fn)` (1 ms); a timer of the same length
 * made later fires after it (Node runs timers of one duration in order), so once this resolves
 * anything RxJS scheduled before it has been thrown.
 */
const afterRxjsReports = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('recv$ subscribers that throw', () => {
  const fx = useFixtures();
  let logger: RecordingLogger;
  let srv: TestServer;

  beforeEach(async () => {
    logger = recordingLogger();
    srv = await fx.startServer({ logger });
    // the well-behaved handler every client relies on
    srv.chsk.recv$.subscribe((m) => {
      if (m.id === 'test/echo') m.reply?.(m.data);
    });
  });

  it('a throw in next is logged with the event id and client; nothing escapes; other clients and the same client are still served', async () => {
    const seen: string[] = [];
    srv.chsk.recv$.subscribe((m) => {
      seen.push(m.id);
      if (m.id === 'test/boom') throw new Error('handler boom');
    });
    const a = fx.rawWs(srv.port, { uid: 'alice' });
    const b = fx.rawWs(srv.port, { uid: 'bob' });
    await Promise.all([a.handshake(), b.handshake()]);

    a.sendJson([['test/boom', 1], null]);
    expect(await b.request(['test/echo', 'from-b'], 'cb-b')).toBe('from-b');
    expect(await a.request(['test/echo', 'from-a'], 'cb-a')).toBe('from-a');
    await afterRxjsReports();

    expect(escaped).toEqual([]);
    // the throwing subscriber kept its subscription: it saw the later events too
    expect(seen.filter((id) => id.startsWith('test/'))).toEqual(['test/boom', 'test/echo', 'test/echo']);
    const logged = logger.entries.filter((e) => e.level === 'error' && /recv\$ subscriber/.test(e.msg));
    expect(logged.map((e) => [e.data?.['id'], e.data?.['clientId'], e.data?.['uid'], (e.data?.['err'] as Error).message])).toEqual([
      ['test/boom', a.clientId, 'alice', 'handler boom'],
    ]);
  });

  it('an operator that throws with no error handler ends that subscription, logged; recv$ goes on', async () => {
    const piped: string[] = [];
    srv.chsk.recv$
      .pipe(
        map((m) => {
          if (m.id === 'test/boom') throw new Error('operator boom');
          return m.id;
        }),
      )
      .subscribe((id) => piped.push(id));
    const a = fx.rawWs(srv.port, { uid: 'alice' });
    await a.handshake();
    a.sendJson([['test/boom', 1], null]);
    expect(await a.request(['test/echo', 1], 'cb-1')).toBe(1);
    await afterRxjsReports();

    expect(escaped).toEqual([]);
    // RxJS semantics: the error ended that pipeline, so it saw nothing after the throw
    expect(piped).not.toContain('test/echo');
    const logged = logger.entries.filter((e) => e.level === 'error' && /subscription errored and ended/.test(e.msg));
    expect(logged.map((e) => [e.data?.['id'], e.data?.['clientId'], (e.data?.['err'] as Error).message])).toEqual([['test/boom', a.clientId, 'operator boom']]);
  });

  it('an error handler that throws is logged too', async () => {
    srv.chsk.recv$
      .pipe(
        map((m) => {
          if (m.id === 'test/boom') throw new Error('operator boom');
          return m;
        }),
      )
      .subscribe({
        error: () => {
          throw new Error('error handler boom');
        },
      });
    const a = fx.rawWs(srv.port);
    await a.handshake();
    a.sendJson([['test/boom', 1], null]);
    expect(await a.request(['test/echo', 2], 'cb-2')).toBe(2);
    await afterRxjsReports();
    expect(escaped).toEqual([]);
    expect(logger.entries.some((e) => e.level === 'error' && (e.data?.['err'] as Error | undefined)?.message === 'error handler boom')).toBe(true);
  });

  it('over Ajax too: the POST whose handler threw is acknowledged, and the next one gets its reply', async () => {
    srv.chsk.recv$.subscribe((m) => {
      if (m.id === 'test/boom') throw new Error('ajax boom');
    });
    const clientId = freshClientId('ajax');
    const post = (body: unknown) =>
      httpRequest(srv.port, { method: 'POST', path: chskPath({ 'client-id': clientId }), headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: JSON.stringify(body) });
    expect((await post([['test/boom', 1], null])).status).toBe(200);
    const r = await post([['test/echo', 'again'], 'ajax']);
    expect(JSON.parse(r.body)).toEqual(['again', null]);
    await afterRxjsReports();
    expect(escaped).toEqual([]);
    expect(logger.entries.filter((e) => e.level === 'error' && e.data?.['id'] === 'test/boom').map((e) => e.data?.['clientId'])).toEqual([clientId]);
  });
});

describe('a broker that throws', () => {
  const fx = useFixtures();

  it('localPresence, publish and connectedUids$ failing are logged; clients are still served', async () => {
    const logger = recordingLogger();
    const inner = inMemoryBroker();
    const uids$ = new Subject<ConnectedUids>();
    const broker: Broker = {
      connect: (node) => inner.connect(node),
      publish: (target, events, flush) => {
        if (events.some((e) => e[0] === 'test/lost')) throw new Error('publish boom');
        inner.publish(target, events, flush);
      },
      request: (req) => inner.request(req),
      reply: (rep) => inner.reply(rep),
      localPresence: () => {
        throw new Error('presence boom');
      },
      connectedUids$: uids$.asObservable(),
      close: () => inner.close(),
    };
    const srv = await fx.startServer({ logger, broker });
    let sendThrew: unknown = 'did not run';
    srv.chsk.recv$.subscribe((m) => {
      if (m.id !== 'test/echo') return;
      try {
        m.send(m.uid, ['test/lost', 1]);
        sendThrew = null;
      } catch (err) {
        sendThrew = err;
      }
      m.reply?.(m.data);
    });
    // localPresence throws inside the upgrade: the socket still opens and gets its handshake
    const a = fx.rawWs(srv.port, { uid: 'alice' });
    await a.handshake();
    uids$.error(new Error('uids boom'));
    expect(await a.request(['test/echo', 'x'], 'cb')).toBe('x');
    const b = fx.rawWs(srv.port, { uid: 'bob' });
    await b.handshake();
    expect(await b.request(['test/echo', 'y'], 'cb')).toBe('y');
    await afterRxjsReports();

    expect(escaped).toEqual([]);
    expect(sendThrew).toBeNull();
    const messages = logger.entries.filter((e) => e.level === 'error').map((e) => (e.data?.['err'] as Error | undefined)?.message);
    expect(messages).toContain('presence boom');
    expect(messages).toContain('publish boom');
    expect(messages).toContain('uids boom');
    expect(logger.entries.find((e) => (e.data?.['err'] as Error | undefined)?.message === 'publish boom')?.data).toMatchObject({ target: { kind: 'uid', uid: 'alice' }, ids: ['test/lost'] });
  });
});
