/**
 * PROTOCOL.md §6 over WebSocket: every kind of malformed input gets its outcome (a close code, or
 * a dropped event with a "chsk/error" reply), is logged with the client id, never errors recv$,
 * and leaves every other client working. Also the client that stops reading (maxBufferedBytes).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Packed, Packer } from '@sente-rx/core';
import type { ServerEventMsg } from '@sente-rx/server';
import { chskPath, clientFrame, freshClientId, httpRequest, nonReadingWsClient, type RawWs, rawWs, recordingLogger, serverFrames, startServer, type TestServer } from '@sente-rx/fixtures';

const MAX_MESSAGE_BYTES = 2_048;

describe('malformed input over WebSocket (JSON packer)', () => {
  let srv: TestServer;
  const logger = recordingLogger();
  let other: RawWs;
  let recvErrors: unknown[] = [];
  let recvCompleted = false;
  let bad: RawWs;
  let seq = 0;

  beforeAll(async () => {
    srv = await startServer({ logger, maxMessageBytes: MAX_MESSAGE_BYTES });
    srv.chsk.recv$.subscribe({
      next: (m) => {
        if (m.id === 'test/echo') m.reply?.(m.data);
      },
      error: (e: unknown) => recvErrors.push(e),
      complete: () => (recvCompleted = true),
    });
    other = rawWs(srv.port, { uid: 'bystander' });
    await other.handshake();
  });

  afterAll(async () => {
    await other.close();
    await srv.stop();
  });

  beforeEach(async () => {
    logger.clear();
    bad = rawWs(srv.port, { uid: 'mallory', clientId: freshClientId('mallory') });
    await bad.handshake();
  });

  afterEach(async () => {
    await bad.close();
    // Nothing a bad client sends errors or completes recv$.
    expect(recvErrors).toEqual([]);
    expect(recvCompleted).toBe(false);
    recvErrors = [];
  });

  /** The bystander's request still gets its reply. */
  async function bystanderStillServed(): Promise<void> {
    const cbId = `b${++seq}`;
    expect(await other.request(['test/echo', { n: seq }], cbId, 2_000)).toEqual({ n: seq });
  }

  /** Event-msgs the server emitted for this client id (uidport events aside). */
  function emittedFor(clientId: string): ServerEventMsg[] {
    const out: ServerEventMsg[] = [];
    srv.received.subscribe((m) => m.clientId === clientId && !m.id.startsWith('chsk/uidport') && out.push(m)).unsubscribe();
    return out;
  }

  /** A warn-or-worse log entry naming this client. */
  function warnedAbout(clientId: string): boolean {
    return logger.forClient(clientId).some((e) => e.level === 'warn' || e.level === 'error');
  }

  describe('a frame that is not an envelope → close 1007', () => {
    const frames: [string, string][] = [
      ['not JSON', 'this is not json'],
      ['truncated JSON', '[["test/echo",1],"c'],
      ['an empty frame', ''],
      ['a JSON object', '{"event":["test/echo"],"cbId":null}'],
      ['a JSON string', '"test/echo"'],
      ['a JSON number', '42'],
      ['JSON null', 'null'],
      ['an empty array', '[]'],
      ['no elements', '[]'],
      ['three elements', '[["test/echo",1],null,null]'],
      ['a numeric cbId', '[["test/echo",1],5]'],
      ['a boolean cbId', '[["test/echo",1],true]'],
      ['an object cbId', '[["test/echo",1],{}]'],
      ['an empty cbId', '[["test/echo",1],""]'],
      ['a 65-character cbId', `[["test/echo",1],"${'x'.repeat(65)}"]`],
      ['an invalid event AND a bad cbId', '[42,7]'],
    ];
    it.each(frames)('%s', async (_name, frame) => {
      bad.ws.send(frame);
      const closed = await bad.closed;
      expect(closed.code).toBe(1007);
      expect(closed.reason).toMatch(/^chsk\/bad-frame/);
      expect(warnedAbout(bad.clientId)).toBe(true);
      expect(emittedFor(bad.clientId)).toEqual([]);
      await bystanderStillServed();
    });
  });

  it('a 64-character cbId is fine (the boundary)', async () => {
    const cbId = 'y'.repeat(64);
    expect(await bad.request(['test/echo', 'edge'], cbId)).toBe('edge');
    expect(bad.ws.readyState).toBe(bad.ws.OPEN);
  });

  describe('a valid envelope with an invalid event → dropped; with a cbId, the reply "chsk/error"; the socket stays open', () => {
    const payloads: [string, unknown][] = [
      ['an object', { id: 'test/echo' }],
      ['a string', 'test/echo'],
      ['null', null],
      ['an empty array', []],
      ['a non-string id', [42, 'x']],
      ['an unnamespaced id', ['echo', 1]],
      ['an id with whitespace', ['test/ec ho', 1]],
      ['an id with nothing after the slash', ['test/', 1]],
      ['three elements', ['test/echo', 1, 2]],
    ];
    it.each(payloads)('%s, with a cbId', async (_name, payload) => {
      const reply = await bad.request(payload, 'c-invalid');
      expect(reply).toBe('chsk/error');
      // still open: a good request on the same socket gets its reply
      expect(await bad.request(['test/echo', 'after'], 'c-after')).toBe('after');
      expect(emittedFor(bad.clientId).map((m) => m.id)).toEqual(['test/echo']);
      expect(logger.forClient(bad.clientId).some((e) => e.level === 'warn' && /invalid event/.test(e.msg))).toBe(true);
      await bystanderStillServed();
    });

    it.each(payloads)('%s, without a cbId', async (_name, payload) => {
      bad.sendJson([payload, null]);
      expect(await bad.request(['test/echo', 'after'], 'c-after')).toBe('after');
      // the only message besides the handshake is the reply to the later request
      expect(bad.received.slice(1)).toEqual([['after', 'c-after']]);
      expect(emittedFor(bad.clientId).map((m) => m.id)).toEqual(['test/echo']);
      expect(logger.forClient(bad.clientId).some((e) => e.level === 'warn' && /invalid event/.test(e.msg))).toBe(true);
      await bystanderStillServed();
    });
  });

  describe('a reserved chsk/ id from a client → dropped; with a cbId, the reply "chsk/error"', () => {
    const events: [string, unknown][] = [
      ['chsk/anything', ['chsk/anything', 1]],
      ['a spoofed uidport-open', ['chsk/uidport-open', 'victim']],
      ['a spoofed uidport-close', ['chsk/uidport-close', 'bystander']],
      ['a spoofed handshake', ['chsk/handshake', ['admin', null, true]]],
      ['chsk/close', ['chsk/close']],
      ['chsk/recv', ['chsk/recv', ['test/echo', 1]]],
    ];
    it.each(events)('%s, with a cbId', async (_name, ev) => {
      expect(await bad.request(ev, 'c-reserved')).toBe('chsk/error');
      expect(await bad.request(['test/echo', 'after'], 'c-after')).toBe('after');
      expect(emittedFor(bad.clientId).map((m) => m.id)).toEqual(['test/echo']);
      expect(logger.forClient(bad.clientId).some((e) => e.level === 'warn' && /reserved/.test(e.msg) && e.data?.['id'] === (ev as [string])[0])).toBe(true);
      await bystanderStillServed();
    });

    it.each(events)('%s, without a cbId', async (_name, ev) => {
      bad.sendJson([ev, null]);
      expect(await bad.request(['test/echo', 'after'], 'c-after')).toBe('after');
      expect(bad.received.slice(1)).toEqual([['after', 'c-after']]);
      // the spoofed event never reached recv$ (from anyone: no uidport event for "victim")
      expect(emittedFor(bad.clientId).map((m) => m.id)).toEqual(['test/echo']);
      expect(logger.forClient(bad.clientId).some((e) => e.level === 'warn' && /reserved/.test(e.msg))).toBe(true);
      expect(srv.chsk.connectedUids$.getValue().any.has('victim')).toBe(false);
      await bystanderStillServed();
    });
  });

  it('a binary frame to the JSON packer → close 1003', async () => {
    bad.ws.send(Buffer.from(JSON.stringify([['test/echo', 1], 'c1'])), { binary: true });
    const closed = await bad.closed;
    expect(closed.code).toBe(1003);
    expect(closed.reason).toMatch(/^chsk\/unsupported-data/);
    expect(warnedAbout(bad.clientId)).toBe(true);
    expect(emittedFor(bad.clientId)).toEqual([]);
    await bystanderStillServed();
  });

  it('a frame over maxMessageBytes → close 1009, logged with the client id', async () => {
    bad.ws.send(JSON.stringify([['test/echo', 'x'.repeat(MAX_MESSAGE_BYTES)], 'c1']));
    const closed = await bad.closed;
    expect(closed.code).toBe(1009);
    expect(emittedFor(bad.clientId)).toEqual([]);
    await bystanderStillServed();
    // PROTOCOL.md §6: "close 1009; logged", like the other bad inputs: a warning that names the client.
    expect(warnedAbout(bad.clientId)).toBe(true);
  });

  it('a text frame that is not valid UTF-8 (does not unpack) → close 1007, logged with the client id', async () => {
    const clientId = freshClientId('utf8');
    const { socket, status, rest } = await nonReadingWsClient(srv.port, chskPath({ 'client-id': clientId, uid: 'mallory' }));
    expect(status).toBe(101);
    let buf = rest;
    const closeFrame = new Promise<Buffer>((resolve) => {
      const scan = (): boolean => {
        const { frames } = serverFrames(buf);
        const close = frames.find((f) => f.opcode === 0x8);
        if (close !== undefined) resolve(close.payload);
        return close !== undefined;
      };
      if (scan()) return;
      socket.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        scan();
      });
    });
    socket.resume();
    socket.write(clientFrame(0x1, Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d]))); // ["\xc3(" ] : an invalid 2-byte sequence
    const payload = await closeFrame;
    expect(payload.readUInt16BE(0)).toBe(1007);
    socket.destroy();
    expect(emittedFor(clientId)).toEqual([]);
    await bystanderStillServed();
    expect(warnedAbout(clientId)).toBe(true);
  });

  it('a frame of exactly maxMessageBytes is accepted', async () => {
    const overhead = JSON.stringify([['test/echo', ''], 'c1']).length;
    const frame = JSON.stringify([['test/echo', 'z'.repeat(MAX_MESSAGE_BYTES - overhead)], 'c1']);
    expect(frame.length).toBe(MAX_MESSAGE_BYTES);
    bad.ws.send(frame);
    expect(await bad.next((m) => Array.isArray(m) && m[1] === 'c1')).toEqual(['z'.repeat(MAX_MESSAGE_BYTES - overhead), 'c1']);
  });

  it('after a storm of bad input from many clients, recv$ is still live for everyone', async () => {
    const frames = ['nope', '[1,null,2]', '[["a/b"],1]', '[["chsk/x"],"c"]', '[5,"c"]'];
    const clients = frames.map(() => rawWs(srv.port, { uid: 'storm' }));
    await Promise.all(clients.map((c) => c.handshake()));
    clients.forEach((c, i) => c.ws.send(frames[i]!));
    await Promise.all(clients.slice(0, 3).map((c) => c.closed));
    expect(await clients[3]!.next((m) => Array.isArray(m) && m[1] === 'c')).toEqual(['chsk/error', 'c']);
    expect(await clients[4]!.next((m) => Array.isArray(m) && m[1] === 'c')).toEqual(['chsk/error', 'c']);
    await bystanderStillServed();
    expect(await bad.request(['test/echo', 'still'], 'c2')).toBe('still');
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('malformed input over Ajax POST → 400 (413 for size), the server keeps serving', () => {
  let srv: TestServer;
  const logger = recordingLogger();
  beforeAll(async () => {
    srv = await startServer({ logger, maxMessageBytes: MAX_MESSAGE_BYTES });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
  });
  afterAll(() => srv.stop());
  beforeEach(() => logger.clear());

  const post = (clientId: string, body: string, headers: Record<string, string> = {}) =>
    httpRequest(srv.port, { method: 'POST', path: chskPath({ 'client-id': clientId, uid: 'mallory' }), headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers }, body });

  async function stillServed(): Promise<void> {
    const r = await post(freshClientId('good'), JSON.stringify([['test/echo', 'ok'], 'ajax']));
    expect(JSON.parse(r.body)).toEqual(['ok', null]);
  }

  const bodies: [string, string][] = [
    ['not JSON', 'nope'],
    ['an empty body', ''],
    ['not an envelope', '{"a":1}'],
    ['an empty array', '[]'],
    ['a bad cbId', '[["test/echo",1],5]'],
    ['an invalid event', '[["noslash",1],"ajax"]'],
    ['a non-array payload', '["test/echo",null]'],
    ['a reserved id', '[["chsk/uidport-open","victim"],null]'],
    ['a reserved id with a cbId', '[["chsk/ws-ping"],"ajax"]'],
  ];
  it.each(bodies)('%s → 400 with a short reason, logged with the client id, nothing on recv$', async (_name, body) => {
    const clientId = freshClientId('post');
    const r = await post(clientId, body);
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/^Bad request: /);
    expect(r.body.length).toBeLessThan(300);
    expect(logger.forClient(clientId).some((e) => e.level === 'warn')).toBe(true);
    const emitted: string[] = [];
    srv.received.subscribe((m) => m.clientId === clientId && emitted.push(m.id)).unsubscribe();
    expect(emitted).toEqual([]);
    await stillServed();
  });

  it('a body over maxMessageBytes (declared in Content-Length) → 413', async () => {
    const r = await post(freshClientId('post'), JSON.stringify([['test/echo', 'x'.repeat(MAX_MESSAGE_BYTES)], null]));
    expect(r.status).toBe(413);
    expect(r.body).toMatch(/Payload too large/);
    expect(logger.entries.some((e) => e.level === 'warn' && /maxMessageBytes/.test(e.msg))).toBe(true);
    await stillServed();
  });

  it('a chunked body that grows past maxMessageBytes → 413', async () => {
    const r = await post(freshClientId('post'), JSON.stringify([['test/echo', 'x'.repeat(MAX_MESSAGE_BYTES)], null]), { 'Transfer-Encoding': 'chunked' });
    expect(r.status).toBe(413);
    expect(r.headers['connection']).toBe('close');
    await stillServed();
  });
});

describe('malformed input over WebSocket (a binary packer)', () => {
  // A minimal binary packer: JSON in UTF-8 bytes.
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: true });
  const binaryPacker: Packer = {
    binary: true,
    pack: (v: unknown): Packed => enc.encode(JSON.stringify(v)),
    unpack: (d: Packed): unknown => JSON.parse(typeof d === 'string' ? d : dec.decode(d)),
  };
  let srv: TestServer;
  const logger = recordingLogger();
  beforeAll(async () => {
    srv = await startServer({ logger, packer: binaryPacker });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
  });
  afterAll(() => srv.stop());

  it('answers binary frames, and closes with 1003 on a text frame', async () => {
    const c = rawWs(srv.port, { uid: 'bin' });
    await c.opened;
    const hs = (await c.next(() => true)) as Buffer;
    expect(Buffer.isBuffer(hs)).toBe(true);
    expect(JSON.parse(hs.toString('utf8'))).toEqual([['chsk/handshake', ['bin', null, null, true]], null]);
    c.ws.send(Buffer.from(JSON.stringify([['test/echo', 7], 'c1'])), { binary: true });
    const reply = (await c.next((m) => Buffer.isBuffer(m) && JSON.parse(m.toString('utf8'))[1] === 'c1')) as Buffer;
    expect(JSON.parse(reply.toString('utf8'))).toEqual([7, 'c1']);

    c.ws.send(JSON.stringify([['test/echo', 8], 'c2']));
    const closed = await c.closed;
    expect(closed.code).toBe(1003);
    expect(logger.forClient(c.clientId).some((e) => e.level === 'warn')).toBe(true);
  });

  it('closes with 1007 on binary bytes that do not unpack (invalid UTF-8, not JSON)', async () => {
    const c = rawWs(srv.port, { uid: 'bin' });
    await c.opened;
    c.ws.send(Buffer.from([0xff, 0xfe, 0x00, 0x01]), { binary: true });
    expect((await c.closed).code).toBe(1007);
    expect(logger.forClient(c.clientId).some((e) => e.level === 'warn')).toBe(true);
  });
});

describe('a client that does not read (maxBufferedBytes)', () => {
  let srv: TestServer;
  const logger = recordingLogger();
  beforeAll(async () => {
    srv = await startServer({ logger, maxBufferedBytes: 64 * 1024, sendBufMs: { ws: 0 }, reconnectGraceMs: { ws: 50 } });
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.(m.data));
  });
  afterAll(() => srv.stop());

  it('is terminated once its send buffer passes the limit, and other clients keep being served', async () => {
    const reader = rawWs(srv.port, { uid: 'reader' });
    await reader.handshake();
    const clientId = freshClientId('slow');
    const { socket, status } = await nonReadingWsClient(srv.port, chskPath({ 'client-id': clientId, uid: 'slow' }));
    expect(status).toBe(101);
    await srv.next('chsk/uidport-open', (m) => m.uid === 'slow');

    const terminated = logger.waitFor((e) => /does not read/.test(e.msg) && e.data?.['clientId'] === clientId, 10_000);
    let isTerminated = false;
    void terminated.then(() => (isTerminated = true), () => undefined);
    // Push 64 KiB events until the server gives up: bounded at 64 MiB, which is far more than
    // the loopback socket buffers hold.
    const chunk = 'x'.repeat(64 * 1024);
    let pushed = 0;
    while (!isTerminated && pushed < 1_024) {
      for (let i = 0; i < 16; i++) srv.chsk.send('slow', ['test/big', chunk]);
      pushed += 16;
      await new Promise((r) => setImmediate(r));
    }
    const entry = await terminated;
    expect(entry.level).toBe('warn');
    expect(entry.data?.['uid']).toBe('slow');
    expect(entry.data?.['bufferedAmount']).toBeGreaterThan(64 * 1024);
    expect(pushed).toBeLessThan(1_024);

    // The server forgot it: the uid leaves after the grace period.
    await srv.next('chsk/uidport-close', (m) => m.uid === 'slow');
    expect(srv.chsk.connectedUids$.getValue().any.has('slow')).toBe(false);

    // Other clients are fine: a request and a push still work.
    expect(await reader.request(['test/echo', 'alive'], 'c1')).toBe('alive');
    srv.chsk.send('reader', ['test/push', 1]);
    expect(await reader.next((m) => Array.isArray(m) && Array.isArray(m[0]) && JSON.stringify(m[0]) === '[["test/push",1]]')).toBeDefined();

    // When the stalled client reads again it finds the connection gone.
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', () => undefined);
    socket.resume();
    await ended;
    await reader.close();
  });
});
