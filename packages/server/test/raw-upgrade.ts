/** A WebSocket upgrade written by hand on raw TCP, for tests that check the exact response bytes. */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export interface RawResult {
  /** Everything the server sent before closing. */
  readonly text: string;
  readonly status: number;
}

/** An upgrade request written by hand on a raw TCP socket; resolves once the server has closed it. */
export function rawUpgrade(port: number, target: string, ms = 5_000): { socket: net.Socket; result: Promise<RawResult>; firstBytes: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let gotFirst: (s: string) => void = () => undefined;
  const firstBytes = new Promise<string>((r) => (gotFirst = r));
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    gotFirst(c.toString('latin1'));
  });
  socket.on('error', () => undefined);
  const result = new Promise<RawResult>((resolve, reject) => {
    const t = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to the upgrade for ${target} within ${ms} ms`));
    }, ms);
    socket.once('close', () => {
      clearTimeout(t);
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ text, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0) });
    });
  });
  socket.once('connect', () =>
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  return { socket, result, firstBytes };
}
