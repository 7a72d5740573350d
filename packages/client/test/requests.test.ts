/** The request manager in virtual time: cbIds, timeouts, settling, failAll and unsubscribe. */
import { ChskError, silentLogger } from '@sente-rx/core';
import { defer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { createRequests, type Requests } from '../src/requests.js';

/** What the client's send does with the manager: open, hand to the network under cbId, settle `chsk/error` when that fails. */
function request(r: Requests, send: (cbId: string) => boolean, timeoutMs: number): Observable<unknown> {
  const req = r.open(timeoutMs);
  if (!send(req.cbId)) r.settle(req.cbId, 'chsk/error');
  return req;
}

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('request manager (virtual time)', () => {
  it('hands each request a fresh cbId at once, and emits the reply then completes', () => {
    const scheduler = newScheduler();
    scheduler.run(({ cold, expectObservable, flush }) => {
      const r = createRequests(scheduler, silentLogger);
      const sent: string[] = [];
      const a = request(r, (cbId) => (sent.push(cbId), true), 100);
      const b = request(r, (cbId) => (sent.push(cbId), true), 100);
      expect(sent).toHaveLength(2);
      expect(new Set(sent).size).toBe(2);
      expect(r.size).toBe(2);
      const sizes: number[] = [];
      cold('10ms x').subscribe(() => r.settle(sent[1]!, { ok: 'b' }));
      cold('20ms x').subscribe(() => sizes.push(r.size));
      expectObservable(b).toBe('10ms (r|)', { r: { ok: 'b' } });
      expectObservable(a).toBe('100ms #', undefined, new ChskError('chsk/timeout', 'no reply within timeoutMs'));
      flush();
      expect(sizes).toEqual([1]); // b settled, a still waiting
      expect(r.size).toBe(0);
    });
  });

  it('errors chsk/timeout exactly timeoutMs later, on the injected scheduler', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const r = createRequests(scheduler, silentLogger);
      expectObservable(request(r, () => true, 250)).toBe('250ms #', undefined, new ChskError('chsk/timeout', 'no reply within timeoutMs'));
    });
  });

  it('errors chsk/error at once when the send fails, and leaves nothing pending', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable, flush }) => {
      const r = createRequests(scheduler, silentLogger);
      expectObservable(request(r, () => false, 100)).toBe('#', undefined, new ChskError('chsk/error', 'the request failed'));
      flush();
      expect(r.size).toBe(0);
    });
  });

  it('settles reserved failure values as errors and ignores late, duplicate and unknown replies', () => {
    const scheduler = newScheduler();
    scheduler.run(({ cold, expectObservable, flush }) => {
      const r = createRequests(scheduler, silentLogger);
      let id = '';
      const req = request(r, (cbId) => ((id = cbId), true), 100);
      cold('5ms x').subscribe(() => r.settle(id, 'chsk/closed'));
      cold('6ms x').subscribe(() => r.settle(id, 'late'));
      cold('7ms x').subscribe(() => r.settle('nope', 'unknown'));
      expectObservable(req).toBe('5ms #', undefined, new ChskError('chsk/closed', 'the channel socket closed before the reply'));
      flush();
      expect(r.size).toBe(0);
    });
  });

  it('failAll fails every pending request with chsk/closed and cancels their timers', () => {
    const scheduler = newScheduler();
    scheduler.run(({ cold, expectObservable, flush }) => {
      const ignored: unknown[] = [];
      const r = createRequests(scheduler, { ...silentLogger, debug: (_msg, ctx) => ignored.push(ctx) });
      const a = request(r, () => true, 100);
      const b = request(r, () => true, 1_000);
      cold('30ms x').subscribe(() => r.failAll());
      const closed = new ChskError('chsk/closed', 'the channel socket is closed');
      expectObservable(a).toBe('30ms #', undefined, closed);
      expectObservable(b).toBe('30ms #', undefined, closed);
      flush();
      expect(r.size).toBe(0);
      expect(ignored).toEqual([]); // no timer fired later for a request already gone
    });
  });

  it('many at once, settled in any order: each reply reaches its own request, failAll fails the rest in the order they were opened', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const r = createRequests(scheduler, silentLogger);
      const got: string[] = [];
      const ids: string[] = [];
      const open = (tag: string): void => {
        request(r, (cbId) => (ids.push(cbId), true), 1_000).subscribe({ next: (v) => got.push(`${tag}=${String(v)}`), error: (e: ChskError) => got.push(`${tag}:${e.code}`) });
      };
      open('a');
      open('b');
      open('c');
      r.settle(ids[0]!, 'A'); // the oldest first
      open('d'); // while b and c wait
      r.settle(ids[2]!, 'C');
      r.settle(ids[1]!, 'B');
      expect(r.size).toBe(1);
      open('e'); // d is the only one left
      open('f');
      r.settle(ids[4]!, 'E');
      r.settle(ids[4]!, 'again'); // a duplicate: ignored
      expect(r.size).toBe(2);
      r.failAll();
      expect(got).toEqual(['a=A', 'c=C', 'b=B', 'e=E', 'd:chsk/closed', 'f:chsk/closed']);
      expect(r.size).toBe(0);
      open('g'); // after failAll, as on a fresh table
      open('h');
      open('i');
      r.settle(ids[7]!, 'H');
      r.failAll();
      expect(got.slice(6)).toEqual(['h=H', 'g:chsk/closed', 'i:chsk/closed']);
    });
  });

  it('unsubscribing before the outcome drops the entry and its timer; a reply after that is ignored', () => {
    const scheduler = newScheduler();
    scheduler.run(({ cold, expectObservable, flush }) => {
      const ignored: unknown[] = [];
      const r = createRequests(scheduler, { ...silentLogger, debug: (_msg, ctx) => ignored.push(ctx) });
      let id = '';
      const req = request(r, (cbId) => ((id = cbId), true), 100);
      expectObservable(req, '^ 20ms !').toBe('');
      cold('50ms x').subscribe(() => r.settle(id, 'late'));
      flush();
      expect(r.size).toBe(0);
      expect(ignored).toEqual([{ cbId: id }]); // the late reply only; the dropped timer never fired
    });
  });

  it('one timeout sweep serves requests of different timeouts: each fails at its own time, in any order of sending', () => {
    const scheduler = newScheduler();
    scheduler.run(({ cold, expectObservable, flush }) => {
      const r = createRequests(scheduler, silentLogger);
      const timedOut = new ChskError('chsk/timeout', 'no reply within timeoutMs');
      const long = request(r, () => true, 1_000);
      const short = request(r, () => true, 100); // earlier than the one already armed
      let answeredId = '';
      const answered = request(r, (cbId) => ((answeredId = cbId), true), 50);
      cold('40ms x').subscribe(() => r.settle(answeredId, 'ok'));
      // sent at 500, when no sweep is armed: armed afresh for 700
      const later = defer(() => request(r, () => true, 200));
      expectObservable(later, '500ms ^').toBe('700ms #', undefined, timedOut);
      expectObservable(answered).toBe('40ms (o|)', { o: 'ok' });
      expectObservable(short).toBe('100ms #', undefined, timedOut);
      expectObservable(long).toBe('1000ms #', undefined, timedOut);
      flush();
      expect(r.size).toBe(0);
    });
  });

  it('a request settled before anyone subscribed replays its outcome to every later subscriber', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const r = createRequests(scheduler, silentLogger);
      let id = '';
      const req = request(r, (cbId) => ((id = cbId), true), 100);
      r.settle(id, { n: 1 });
      expectObservable(req).toBe('(r|)', { r: { n: 1 } });
      expectObservable(req, '30ms ^').toBe('30ms (r|)', { r: { n: 1 } });
    });
  });

  describe('chsk/issues (the server refused a request by its contract, PROTOCOL.md §8)', () => {
    const errorOf = (o: Observable<unknown>): unknown => {
      let e: unknown;
      o.subscribe({ error: (err: unknown) => (e = err) });
      return e;
    };

    it('the chsk/error reply of a request with issues carries them; the entry then is gone', () => {
      const r = createRequests(newScheduler(), silentLogger);
      let id = '';
      const req = request(r, (cbId) => ((id = cbId), true), 100);
      r.noteIssues([id, [{ path: ['text'], message: 'Too big' }]]);
      expect(r.size).toBe(1); // the issues alone do not settle it
      r.settle(id, 'chsk/error');
      const e = errorOf(req);
      expect(e).toBeInstanceOf(ChskError);
      expect((e as ChskError).code).toBe('chsk/error');
      expect((e as ChskError).issues).toEqual([{ path: ['text'], message: 'Too big' }]);
      expect((e as ChskError).message).toContain('text: Too big');
      expect(r.size).toBe(0);
    });

    it('keeps issues only for a pending request: unknown, late and malformed ones are ignored', () => {
      const r = createRequests(newScheduler(), silentLogger);
      const ids: string[] = [];
      const a = request(r, (cbId) => (ids.push(cbId), true), 100);
      const b = request(r, (cbId) => (ids.push(cbId), true), 100);
      r.noteIssues(['nope', [{ path: [], message: 'x' }]]); // no such request
      r.noteIssues([ids[0], 'not an array']);
      r.noteIssues('garbage');
      r.noteIssues([ids[1], [{ path: ['q'], message: 'for b' }]]);
      r.settle(ids[0]!, 'chsk/error');
      expect((errorOf(a) as ChskError).issues).toBeUndefined();
      r.settle(ids[1]!, 'chsk/error');
      expect((errorOf(b) as ChskError).issues).toEqual([{ path: ['q'], message: 'for b' }]);
      r.noteIssues([ids[1], [{ path: [], message: 'late' }]]); // settled: nothing is kept
      expect(r.size).toBe(0);
    });

    it('a chsk/error after issues of another code is not decorated: timeouts and closes stay bare', () => {
      const scheduler = newScheduler();
      scheduler.run(({ expectObservable }) => {
        const r = createRequests(scheduler, silentLogger);
        let id = '';
        const req = request(r, (cbId) => ((id = cbId), true), 50);
        r.noteIssues([id, [{ path: [], message: 'x' }]]);
        expectObservable(req).toBe('50ms #', undefined, new ChskError('chsk/timeout', 'no reply within timeoutMs'));
      });
    });

    it('bounds what a hostile server sends: at most 20 issues, messages cut at 500 characters, odd path segments dropped', () => {
      const r = createRequests(newScheduler(), silentLogger);
      let id = '';
      const req = request(r, (cbId) => ((id = cbId), true), 100);
      const many = Array.from({ length: 1_000 }, (_, i) => ({ path: ['a', i, { evil: true }, null], message: 'm'.repeat(10_000) }));
      r.noteIssues([id, many]);
      r.settle(id, 'chsk/error');
      const issues = (errorOf(req) as ChskError).issues ?? [];
      expect(issues).toHaveLength(20);
      expect(issues[3]).toEqual({ path: ['a', 3], message: 'm'.repeat(500) });
    });
  });
});
