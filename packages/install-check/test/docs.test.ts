/**
 * Issue 9 item 18: `npm run docs` (TypeDoc, treatWarningsAsErrors) builds the API reference, and
 * it lists every option with its default, every error code and every close code.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '@sente-rx/core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let out: string;

beforeAll(async () => {
  out = mkdtempSync(path.join(os.tmpdir(), 'sente-rx-docs-'));
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [path.join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--options', 'packages/docs/typedoc.json', '--out', out], { cwd: ROOT }, (err, stdout, stderr) =>
      err === null ? resolve() : reject(new Error(`\n✗ npm run docs failed (warnings count as errors)\n${stdout}\n${stderr}`)),
    ),
  );
}, 180_000);
afterAll(() => {
  if (out !== undefined) rmSync(out, { recursive: true, force: true });
});

const page = (rel: string): string => readFileSync(path.join(out, rel), 'utf8');
/** Member names that have an HTML anchor on a page (TypeDoc lowercases them). */
const anchors = (html: string): Set<string> => new Set([...html.matchAll(/id="([a-z0-9_$-]+)"/g)].map((m) => m[1] ?? ''));

describe('the API reference', () => {
  it('lists every close code with its number', () => {
    const html = page('variables/_sente-rx_core.CloseCode.html');
    for (const [name, code] of Object.entries(CloseCode)) {
      expect(html, name).toContain(name);
      expect(html, `${name} = ${code}`).toContain(String(code));
    }
  });

  it('lists every error code', () => {
    const html = page('types/_sente-rx_core.ChskErrorCode.html');
    for (const code of ['chsk/closed', 'chsk/timeout', 'chsk/error', 'protocol/bad-frame', 'protocol/bad-event', 'protocol/too-large', 'protocol/unsupported-data']) {
      expect(html, code).toContain(`&quot;${code}&quot;`);
    }
  });

  it('has a page for the WebSocket-only entry, with its options', () => {
    expect(anchors(page('modules/_sente-rx_client_ws.html')).has('createchannelsocketclient')).toBe(true);
    // Its own createChannelSocketClient, typed with WsClientOptions (whose page the full entry shares).
    expect(page('functions/_sente-rx_client_ws.createChannelSocketClient.html')).toContain('WsClientOptions');
    const opts = page('interfaces/_sente-rx_client.WsClientOptions.html');
    for (const option of ['type', 'scheduler', 'websocket', 'wskeepalivems']) expect(anchors(opts).has(option), option).toBe(true);
  });

  it.each([
    ['interfaces/_sente-rx_server.ServerOptions.html', ['wskeepalivems', 'wspingtimeoutms', 'lptimeoutms', 'sendbufms', 'reconnectgracems', 'maxmessagebytes', 'allowedorigins', 'packer', 'logger', 'broker']],
    ['interfaces/_sente-rx_client.ClientOptions.html', ['type', 'protocol', 'host', 'packer', 'websocket', 'fetch', 'backoffms', 'wskeepalivems', 'wspingtimeoutms', 'wraprecvevs', 'logger', 'scheduler']],
  ])('%s documents each option with its default', (file, options) => {
    const html = page(file);
    const ids = anchors(html);
    for (const option of options) expect(ids.has(option), `${option} on ${file}`).toBe(true);
    expect(html.match(/<h4[^>]*>Default/g)?.length ?? 0, 'Default sections').toBeGreaterThanOrEqual(options.length);
  });
});
