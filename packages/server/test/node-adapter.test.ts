/**
 * The Node adapter under Connect-style hosts: a POST whose body an earlier middleware already
 * read. DESIGN.md §3: ajaxPost "works under plain http, Express and Connect-style middleware".
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createChannelSocketServer, SKIP_CSRF_CHECK } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { type HttpResult, httpRequest } from '@sente-rx/fixtures';

type BodyParser = (raw: Buffer) => unknown;

describe('ajaxPost after a body parser', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  /** A server whose middleware reads the whole body first and leaves `parse(raw)` in req.body. */
  async function serverWithParser(parse: BodyParser): Promise<number> {
    const chsk = createChannelSocketServer(nodeAdapter(), { csrfToken: () => SKIP_CSRF_CHECK });
    chsk.recv$.subscribe((m) => m.reply?.({ got: m.data }));
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        (req as http.IncomingMessage & { body?: unknown }).body = parse(Buffer.concat(chunks));
        chsk.ajaxPost(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup = async () => {
      await chsk.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    };
    return (server.address() as AddressInfo).port;
  }

  /** Awaited, not raced against a wall-clock window: a POST that hangs fails the test by its timeout. */
  const post = (port: number): Promise<HttpResult> =>
    httpRequest(port, { method: 'POST', path: '/chsk?client-id=c1', headers: { 'Content-Type': 'application/json' }, body: '[["test/x",1],"ajax"]' });

  it('uses a string body the parser left', async () => {
    const port = await serverWithParser((raw) => raw.toString('utf8'));
    const r = await post(port);
    expect(JSON.parse(r.body)).toEqual([{ got: 1 }, null]);
  });

  it('uses a Buffer body the parser left', async () => {
    const port = await serverWithParser((raw) => raw);
    const r = await post(port);
    expect(JSON.parse(r.body)).toEqual([{ got: 1 }, null]);
  });

  it('answers (does not hang) when the parser consumed the stream and left an object', async () => {
    const port = await serverWithParser((raw) => JSON.parse(raw.toString('utf8')));
    const r = await post(port);
    // either the parsed value is used (200 with the reply) or the request is refused with a clear status
    expect(r.status === 200 ? JSON.parse(r.body) : r.status >= 400).toEqual(r.status === 200 ? [{ got: 1 }, null] : true);
  });
});
