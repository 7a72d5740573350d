/**
 * Issue 9 item 3: `reject()`'s headers are never written raw. A CRLF in a value used to split the
 * refused-upgrade response (`X-Why: a\r\nSet-Cookie: session=attacker`), and on Ajax a CRLF or a
 * non-Latin-1 character threw ERR_INVALID_CHAR out of ajaxGetOrWsHandshake, killing the process.
 * Outcome (PROTOCOL.md §5): an invalid header is dropped and logged; the refusal keeps its status
 * and body. A status that cannot be a refusal becomes a logged 500.
 */
import type { IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Rejection } from '@sente-rx/server';
import { chskPath, httpRequest, recordingLogger, type RecordingLogger, type TestServer, useFixtures } from '@sente-rx/fixtures';
import { rawUpgrade } from './raw-upgrade.js';

const escaped: unknown[] = [];
const onEscape = (err: unknown): void => void escaped.push(err);
beforeEach(() => {
  escaped.length = 0;
  process.on('uncaughtException', onEscape);
});
afterEach(() => void process.off('uncaughtException', onEscape));

/** The refused upgrade's response bytes, exactly as the server wrote them (raw TCP). */
const upgradeBytes = async (port: number, path: string): Promise<string> => (await rawUpgrade(port, path).result).text;

/** The header lines of a raw response (lower-cased names). */
const headerLines = (raw: string): string[] =>
  raw
    .slice(0, raw.indexOf('\r\n\r\n'))
    .split('\r\n')
    .slice(1)
    .map((l) => l.replace(/^[^:]+/, (n) => n.toLowerCase()));

const HOSTILE: Readonly<Record<string, string>> = {
  'X-Why': 'a\r\nSet-Cookie: session=attacker',
  'X-User': 'user ✓',
  'X-Lf': 'a\nb',
  'Bad Name': 'x',
  'Content-Length': '0',
  'X-Fine': 'kept',
};

describe('reject() with invalid headers', () => {
  const fx = useFixtures();
  let logger: RecordingLogger;
  let srv: TestServer;
  let refusal: unknown;

  beforeEach(async () => {
    logger = recordingLogger();
    srv = await fx.startServer({ logger, reject: (req: IncomingMessage) => (req.url?.includes('refuse') ? (refusal as Rejection) : null) });
  });

  it('WebSocket: the response is not split; bad headers are dropped and logged, the valid one and the status kept', async () => {
    refusal = { status: 401, body: 'go away', headers: HOSTILE };
    const raw = await upgradeBytes(srv.port, chskPath({ 'client-id': 'c1', refuse: '1' }));
    expect(raw.startsWith('HTTP/1.1 401 ')).toBe(true);
    expect(raw).not.toMatch(/set-cookie/i);
    const lines = headerLines(raw);
    expect(lines).toContain('x-fine: kept');
    expect(lines.filter((l) => l.startsWith('content-length:'))).toEqual(['content-length: 7']);
    expect(lines.some((l) => /^(x-why|x-user|x-lf|bad name):/.test(l))).toBe(false);
    expect(raw.endsWith('\r\n\r\ngo away')).toBe(true);
    const dropped = logger.entries.filter((e) => e.level === 'error' && /reject\(\) returned/.test(e.msg)).map((e) => e.data?.['header']);
    expect(dropped).toEqual(['X-Why', 'X-User', 'X-Lf', '"Bad Name"', 'Content-Length']);
  });

  it('Ajax GET and POST: answered with the status instead of throwing ERR_INVALID_CHAR out of the handler', async () => {
    refusal = { status: 403, body: 'no', headers: HOSTILE };
    const get = await httpRequest(srv.port, { path: chskPath({ 'client-id': 'c1', refuse: '1' }) });
    const post = await httpRequest(srv.port, { method: 'POST', path: chskPath({ 'client-id': 'c1', refuse: '1' }), body: '[["test/x",1],null]' });
    for (const r of [get, post]) {
      expect(r.status).toBe(403);
      expect(r.body).toBe('no');
      expect(r.headers['x-fine']).toBe('kept');
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(r.headers['x-user']).toBeUndefined();
    }
    expect(escaped).toEqual([]);
    // still serving
    expect((await httpRequest(srv.port, { path: chskPath({ 'client-id': 'c2', 'handshake?': '1' }) })).status).toBe(200);
  });

  it.each([
    ['101 (would fake an upgrade)', 101],
    ['a string with CRLF', '400\r\nSet-Cookie: a=b'],
    ['out of range', 1_000],
    ['not an integer', 401.5],
  ])('a status that cannot be a refusal, %s, becomes a logged 500 on both transports', async (_name, status) => {
    refusal = { status, body: 'x' };
    const raw = await upgradeBytes(srv.port, chskPath({ 'client-id': 'c1', refuse: '1' }));
    expect(raw.startsWith('HTTP/1.1 500 ')).toBe(true);
    expect(raw).not.toMatch(/set-cookie/i);
    const r = await httpRequest(srv.port, { path: chskPath({ 'client-id': 'c1', refuse: '1' }) });
    expect(r.status).toBe(500);
    expect(escaped).toEqual([]);
    expect(logger.entries.filter((e) => e.level === 'error' && /not an integer in 300\.\.599/.test(e.msg))).toHaveLength(2);
  });
});
