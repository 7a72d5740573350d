/**
 * The cost side of long-polling (issue 10): what a poll may skip without changing what the client
 * gets. A recovery poll at the position this node's own answers gave is served from the client's
 * queue, without reading the log; any other position reads it. The clients of a uid that take the
 * same batch (or run of batches) share one packing of it. Held polls time out on one scheduler
 * action, each at its own lpTimeoutMs.
 */
import { type ChskEvent, jsonPacker, type Packer, SKIP_CSRF_CHECK } from '@sente-rx/core';
import { createChannelSocketServer, inMemoryBroker, type AjaxResponder, type RequestView, type ServerCore } from '@sente-rx/server';
import { httpRequest, useFixtures } from '@sente-rx/fixtures';
import { ReplaySubject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it, vi } from 'vitest';

const fx = useFixtures();

/** A raw Ajax GET of client `cid` of uid ann, with `pos` (and the handshake flag). */
async function get(port: number, cid: string, pos: string, handshake = false): Promise<unknown> {
  const q = new URLSearchParams({ 'client-id': cid, uid: 'ann', pos });
  if (handshake) q.set('handshake?', '1');
  const r = await httpRequest(port, { path: `/chsk?${q}` });
  expect(r.status).toBe(200);
  return (JSON.parse(r.body) as [unknown, unknown])[0];
}

/** The `app/n` data in a poll answer (a batch: the chsk/pos marker, then the events). */
const dataOf = (answer: unknown): unknown[] => (answer as ChskEvent[]).filter((e) => e[0] === 'app/n').map((e) => e[1]);

/** The position a client holds after `answer` (its marker's highest seq; uid stream only here). */
function after(pos: string, answer: unknown): string {
  const marker = (answer as ChskEvent[]).find((e) => e[0] === 'chsk/pos');
  if (marker === undefined) return pos;
  const [epoch, ...codes] = marker[1] as [string, ...(number | [number, number])[]];
  let u = Number(pos.split('.').at(-2));
  for (const c of codes) u = Math.max(u, Array.isArray(c) ? c[0] + c[1] - 1 : c);
  return `${epoch}.${u}.0`;
}

describe('Ajax recovery polls', () => {
  it('a poll at the position of this node’s last answer is served without reading the log; a poll at another position reads it', async () => {
    const broker = inMemoryBroker();
    const history = vi.spyOn(broker, 'history');
    const srv = await fx.startServer({ broker });
    const send = (n: number): void => srv.chsk.send('ann', ['app/n', n], { flush: true });

    const hs = (await get(srv.port, 'r1', '', true)) as [string, unknown[]];
    expect(hs[0]).toBe('chsk/handshake');
    const p0 = (hs[1][4] as [string, { pos: string }])[1].pos; // the recovery element
    expect(typeof p0).toBe('string');

    send(1);
    send(2);
    const reads0 = history.mock.calls.length;
    const a1 = await get(srv.port, 'r1', p0); // the first poll after the handshake reads the log
    expect(dataOf(a1)).toEqual([1, 2]);
    expect(history.mock.calls.length).toBeGreaterThan(reads0);
    const p1 = after(p0, a1);

    send(3);
    send(4);
    const reads1 = history.mock.calls.length;
    const a2 = await get(srv.port, 'r1', p1); // where this node's answer left it: the queue alone
    expect(dataOf(a2)).toEqual([3, 4]);
    expect(history.mock.calls.length).toBe(reads1);

    send(5);
    const a3 = await get(srv.port, 'r1', p1); // the answer a2 was lost: the log fills the gap
    expect(dataOf(a3)).toEqual([3, 4, 5]);
    expect(history.mock.calls.length).toBeGreaterThan(reads1);
    const p3 = after(p1, a3);

    const reads3 = history.mock.calls.length;
    // Held until the push, or answered from the queue if the push comes first: [6] either way.
    const next = get(srv.port, 'r1', p3);
    send(6);
    expect(dataOf(await next)).toEqual([6]);
    expect(history.mock.calls.length).toBe(reads3);
  });
});

// ---- virtual time: packing and the long-poll timeout ----------------------------------------

interface FakeReq {
  readonly uid: string;
}

class FakeResponse implements AjaxResponder {
  done = false;
  readonly wire = new ReplaySubject<string>();
  private abortFn: (() => void) | undefined;

  respond(status: number, body: string | Uint8Array): void {
    if (this.done) return;
    this.done = true;
    const m = JSON.parse(String(body)) as [unknown];
    this.wire.next(status !== 200 ? `status:${status}` : m[0] === 'chsk/timeout' ? 'timeout' : Array.isArray(m[0]) && m[0][0] === 'chsk/handshake' ? 'handshake' : JSON.stringify(m[0]));
    this.wire.complete();
  }

  onAbort(fn: () => void): void {
    this.abortFn = fn;
  }

  abort(): void {
    this.done = true;
    this.wire.complete();
    this.abortFn?.();
  }
}

function virtualServer(ts: TestScheduler, packer: Packer = jsonPacker) {
  const srv = createChannelSocketServer({ bind: (core: ServerCore<FakeReq>) => ({ core }) }, {
    userId: (req) => req.uid,
    csrfToken: () => SKIP_CSRF_CHECK,
    scheduler: ts,
    packer,
    wsKeepAliveMs: 0,
    lpTimeoutMs: 1_000,
    sendBufMs: { ajax: 100 },
  });
  const get = (clientId: string, handshake = false, res = new FakeResponse()): FakeResponse => {
    const q = `client-id=${clientId}${handshake ? '&handshake%3F=1' : ''}`;
    const view: RequestView = { method: 'GET', url: `/chsk?${q}`, query: new URLSearchParams(q), header: () => undefined };
    const a = srv.core.admit(view, { uid: 'alice' });
    if (!a.ok) throw new Error(`refused: ${a.rejection.status}`);
    a.request.ajaxGet({ transport: 'ajax', method: 'GET', url: '/chsk', headers: {}, remoteAddress: '127.0.0.1' }, res);
    return res;
  };
  return { srv, get };
}

/** The JSON packer, counting how many server batches it packs. */
function countingPacker(): { counting: Packer; batches: () => number } {
  let n = 0;
  const counting: Packer = {
    ...jsonPacker,
    pack(value, kind) {
      if (kind === 'server-batch') n++;
      return jsonPacker.pack(value, kind);
    },
  };
  return { counting, batches: () => n };
}

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('Ajax polls in virtual time', () => {
  it('the clients of a uid that find the same batch queued share one packing of it', () => {
    const { counting, batches } = countingPacker();
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = virtualServer(ts, counting);
      for (const c of ['a1', 'a2', 'a3']) t.get(c, true);
      const polls = ['a1', 'a2', 'a3'].map(() => new FakeResponse());
      ts.schedule(() => t.srv.send('alice', ['test/x', 1]), 10); // nobody polls: queued at 110 for each
      ts.schedule(() => polls.forEach((res, i) => t.get(`a${i + 1}`, false, res)), 200);
      ts.schedule(() => expect(batches()).toBe(1), 201);
      for (const res of polls) expectObservable(res.wire).toBe('200ms (b|)', { b: '[["test/x",1]]' });
      ts.schedule(() => void t.srv.close(), 300);
    });
  });

  it('so do the clients that find the same run of batches queued (slower than the batches)', () => {
    const { counting, batches } = countingPacker();
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = virtualServer(ts, counting);
      for (const c of ['a1', 'a2', 'a3']) t.get(c, true);
      const polls = ['a1', 'a2', 'a3'].map(() => new FakeResponse());
      ts.schedule(() => t.srv.send('alice', ['test/x', 1]), 10); // a batch at 110
      ts.schedule(() => t.srv.send('alice', ['test/x', 2]), 200); // another at 300
      ts.schedule(() => polls.forEach((res, i) => t.get(`a${i + 1}`, false, res)), 400);
      ts.schedule(() => expect(batches()).toBe(1), 401);
      for (const res of polls) expectObservable(res.wire).toBe('400ms (b|)', { b: '[["test/x",1],["test/x",2]]' });
      ts.schedule(() => void t.srv.close(), 500);
    });
  });

  it('held polls end with chsk/timeout each lpTimeoutMs after it was taken, abandoned ones aside', () => {
    const ts = newScheduler();
    ts.run(({ expectObservable }) => {
      const t = virtualServer(ts);
      for (const c of ['a1', 'a2', 'a3']) t.get(c, true);
      const polls = [new FakeResponse(), new FakeResponse(), new FakeResponse()];
      ts.schedule(() => t.get('a1', false, polls[0]), 0);
      ts.schedule(() => t.get('a2', false, polls[1]), 30);
      ts.schedule(() => t.get('a3', false, polls[2]), 60);
      ts.schedule(() => polls[0]?.abort(), 500);
      const again = new FakeResponse();
      ts.schedule(() => t.get('a1', false, again), 600);
      expectObservable(polls[0]!.wire).toBe('500ms |');
      expectObservable(polls[1]!.wire).toBe('1030ms (t|)', { t: 'timeout' });
      expectObservable(polls[2]!.wire).toBe('1060ms (t|)', { t: 'timeout' });
      expectObservable(again.wire).toBe('1600ms (t|)', { t: 'timeout' });
      ts.schedule(() => void t.srv.close(), 2_000);
    });
  });
});
