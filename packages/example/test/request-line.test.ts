/**
 * Issue 9 item 1: a request line the URL parser rejects (`http://a:99999/chsk`, a legal
 * absolute-form target with an invalid port) must get an answer, as a plain GET and as an
 * upgrade, and the demo server must stay up. Raw TCP, because HTTP clients will not send it.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExampleServer, type ExampleServer } from '../src/server.js';

let server: ExampleServer;

beforeAll(async () => {
  server = await startExampleServer({ port: 0, host: '127.0.0.1', log: () => undefined });
});
afterAll(() => server.close());

/** Sends `head` on a fresh loopback connection; resolves with everything the server wrote before it closed. */
function exchange(head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      // One response is all we wait for: stop once its head is complete.
      if (received.includes('\r\n\r\n')) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(head);
  });
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3}) /.exec(response)?.[1] ?? NaN);

const GET = 'GET http://a:99999/chsk HTTP/1.1\r\nHost: a:99999\r\nConnection: close\r\n\r\n';
const UPGRADE =
  'GET http://a:99999/chsk?client-id=c1 HTTP/1.1\r\nHost: a:99999\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

describe('the demo server and a request line new URL() rejects', () => {
  it('answers it as a plain GET', async () => {
    const status = statusOf(await exchange(GET));
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
  });

  it('answers it as a WebSocket upgrade', async () => {
    const status = statusOf(await exchange(UPGRADE));
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
  });

  it("answers an upgrade for a path nobody serves with attach's 400", async () => {
    const response = await exchange(UPGRADE.replace('/chsk?', '/elsewhere?'));
    expect(statusOf(response)).toBe(400);
  });

  it('is still serving pages afterwards', async () => {
    await exchange(UPGRADE);
    await exchange(GET);
    const res = await fetch(`${server.url}/session`);
    expect(res.status).toBe(200);
  });
});
