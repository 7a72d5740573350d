// 6. Browser client bundle: esbuild, minified, for the browser, then gzip -9; once with esbuild's
// default conditions and once with `--conditions=es2015` (RxJS's ES2015 build). The raw `ws`
// column is the smallest useful browser client on the bare WebSocket: connect, JSON, an
// id-correlated request and a push handler. sente-rx is measured twice: the full client
// (`@sente-rx/client`) and the WebSocket-only entry (`@sente-rx/client/ws`, issue 10).

import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { LibImpl } from './types.js';

const ENTRIES: Record<LibImpl, string> = {
  'sente-rx': `export { createChannelSocketClient } from '@sente-rx/client';`,
  'socket.io': `export { io } from 'socket.io-client';`,
  ws: `
export function connect(url, onPush) {
  const ws = new WebSocket(url);
  const pending = new Map();
  let seq = 0;
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.p !== undefined) onPush(m.p);
    else if (m.id !== undefined) { const done = pending.get(m.id); pending.delete(m.id); done && done(m.d); }
  };
  return {
    request: (d) => new Promise((resolve) => { const id = ++seq; pending.set(id, resolve); ws.send(JSON.stringify({ id, d })); }),
    close: () => ws.close(),
  };
}
`,
};

export interface BundleSize {
  readonly minBytes: number;
  readonly gzipBytes: number;
  /** Minified bytes that came from rxjs. */
  readonly rxjsMinBytes: number;
  /** Minified bytes by origin (esbuild metafile `bytesInOutput`): the client package, core, rxjs, the rest. */
  readonly parts: BundleParts;
  /** Inputs that must never reach a browser bundle (Node built-ins, `ws`). */
  readonly forbidden: readonly string[];
}

export interface BundleParts {
  readonly client: number;
  readonly core: number;
  readonly rxjs: number;
  readonly other: number;
}

/** Which part an esbuild input path belongs to: workspace sources, built packages or node_modules. */
function partOf(file: string): keyof BundleParts {
  if (/(^|\/)node_modules\/rxjs\//.test(file)) return 'rxjs';
  if (/(^|\/)(@sente-rx\/)?core\/(src|dist)\//.test(file)) return 'core';
  if (/(^|\/)(@sente-rx\/)?client\/(src|dist)\//.test(file)) return 'client';
  return 'other';
}

export function bundleSize(impl: keyof typeof ENTRIES, resolveDir: string, conditions: readonly string[]): Promise<BundleSize> {
  return bundleOf(ENTRIES[impl], impl, resolveDir, conditions);
}

/** The WebSocket-only sente-rx client: `createChannelSocketClient` of `@sente-rx/client/ws` (issue 10). */
export const WS_ENTRY = `export { createChannelSocketClient } from '@sente-rx/client/ws';`;

export function wsClientBundleSize(resolveDir: string, conditions: readonly string[]): Promise<BundleSize> {
  return bundleOf(WS_ENTRY, 'sente-rx-ws', resolveDir, conditions);
}

/** The sente-rx client bundle with one packer of @sente-rx/packers, imported from its subpath. */
export function clientWithPackerBundleSize(exportName: string, subpath: string, resolveDir: string, conditions: readonly string[]): Promise<BundleSize> {
  const entry = `export { createChannelSocketClient } from '@sente-rx/client';\nexport { ${exportName} } from '@sente-rx/packers/${subpath}';`;
  return bundleOf(entry, `sente-rx-${subpath}`, resolveDir, conditions);
}

async function bundleOf(contents: string, name: string, resolveDir: string, conditions: readonly string[]): Promise<BundleSize> {
  const result = await build({
    stdin: { contents, resolveDir, loader: 'js', sourcefile: `${name}-entry.js` },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    // Only set when asked: esbuild drops its default `module` condition once conditions are configured.
    ...(conditions.length > 0 ? { conditions: [...conditions] } : {}),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.contents;
  if (!code) throw new Error(`esbuild produced no output for ${name}`);
  const forbidden = Object.keys(result.metafile.inputs).filter((f) => /(^|\/)node_modules\/ws\/|^node:|^(http|https|net|tls|crypto|stream|zlib|events)$/.test(f));
  const inputs = Object.values(result.metafile.outputs)[0]?.inputs ?? {};
  const parts = { client: 0, core: 0, rxjs: 0, other: 0 };
  for (const [file, v] of Object.entries(inputs)) parts[partOf(file)] += v.bytesInOutput;
  return { minBytes: code.byteLength, gzipBytes: gzipSync(code, { level: 9 }).byteLength, rxjsMinBytes: parts.rxjs, parts, forbidden };
}
