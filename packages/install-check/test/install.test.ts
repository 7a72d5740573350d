/**
 * Issue 9 items 14-16: the packages as a user installs them. Packs each published workspace
 * (`npm pack` runs its `prepack` build), installs the tarballs into a fresh app in os.tmpdir()
 * that depends on rxjs 7.8.1 from the npm registry, type-checks fixture/app.ts with the repo's
 * TypeScript under `module: nodenext`, `moduleResolution: bundler` and `moduleResolution: node`,
 * then runs it over loopback. Every failure prints the command, its exit code and its output.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../../..');
const FIXTURE = path.resolve(HERE, '../fixture');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
/** The published packages; every new one (redis, testing, packers) is added here. */
const PUBLISHED = ['core', 'server', 'client', 'testing', 'redis', 'packers'] as const;
const APP_RXJS = '7.8.1';
const MINUTES = 60_000;

interface Run {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command; a failure rejects with everything needed to see why, not just "exit code 1". */
function run(cmd: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } }, (err, stdout, stderr) => {
      if (err === null) return resolve({ stdout, stderr });
      const code = (err as { code?: unknown }).code;
      reject(
        new Error(
          `\n✗ install-check: \`${cmd} ${args.join(' ')}\` in ${cwd} failed (exit ${String(code)})\n` +
            `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}\n`,
        ),
      );
    });
  });
}

interface PackedFile {
  readonly path: string;
}
interface Packed {
  readonly name: string;
  readonly filename: string;
  readonly files: readonly PackedFile[];
}
interface Manifest {
  readonly name: string;
  readonly license?: string;
  readonly main?: string;
  readonly types?: string;
  readonly exports?: Record<string, string | Record<string, string>>;
  readonly typesVersions?: Record<string, Record<string, readonly string[]>>;
  readonly repository?: unknown;
  readonly homepage?: string;
  readonly keywords?: readonly string[];
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
}

let work: string;
let app: string;
let packed: readonly Packed[] = [];
const quickStart: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'sente-rx-install-check-'));
  const tarballs = path.join(work, 'tarballs');
  mkdirSync(tarballs);
  const workspaces = PUBLISHED.flatMap((p) => ['-w', `@sente-rx/${p}`]);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tarballs, ...workspaces], ROOT);
  packed = JSON.parse(stdout.slice(stdout.indexOf('['))) as Packed[];

  app = path.join(work, 'app');
  mkdirSync(app);
  const dependencies: Record<string, string> = { rxjs: APP_RXJS, ws: '8.23.0' };
  for (const p of packed) dependencies[p.name] = `file:${path.join(tarballs, p.filename)}`;
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'fresh-app', private: true, type: 'module', dependencies, devDependencies: { '@types/node': '20.19.43', '@types/ws': '8.18.2' } }, null, 2),
  );
  copyFileSync(path.join(FIXTURE, 'app.ts'), path.join(app, 'app.ts'));
  // The README's quick start, as a user pastes it: type-checked below with the app's own file.
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const [, name, code] of readme.matchAll(/<!-- quick-start: ([\w.-]+\.ts) -->\n```ts\n([\s\S]*?)\n```/g)) {
    writeFileSync(path.join(app, name ?? ''), `${code ?? ''}\n`);
    quickStart.push(name ?? '');
  }
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], app);
}, 8 * MINUTES);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

const manifestOf = (name: string): Manifest => JSON.parse(readFileSync(path.join(app, 'node_modules', name, 'package.json'), 'utf8')) as Manifest;

describe('the packed tarballs', () => {
  it('are the published packages', () => {
    expect(packed.map((p) => p.name).sort()).toEqual(PUBLISHED.map((p) => `@sente-rx/${p}`).sort());
  });

  it.each(PUBLISHED)('@sente-rx/%s ships its README, LICENSE and every file its manifest points at', (pkg) => {
    const files = new Set(packed.find((p) => p.name === `@sente-rx/${pkg}`)?.files.map((f) => f.path));
    expect([...files], 'README.md and LICENSE').toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']));
    const m = manifestOf(`@sente-rx/${pkg}`);
    const targets = [m.main, m.types, ...Object.values(m.exports ?? {}).flatMap((conds) => (typeof conds === 'string' ? [conds] : Object.values(conds)))];
    for (const entries of Object.values(m.typesVersions ?? {})) for (const list of Object.values(entries)) targets.push(...list);
    for (const target of targets) {
      expect(target, `${pkg}: a main/types/exports/typesVersions entry is missing`).toBeTypeOf('string');
      expect(files.has(String(target).replace(/^\.\//, '')), `${pkg}'s manifest points at ${target}, which the tarball does not ship`).toBe(true);
    }
    expect(readFileSync(path.join(app, 'node_modules', `@sente-rx/${pkg}`, 'LICENSE'), 'utf8')).toMatch(/^Eclipse Public License - v 1\.0\n/);
  });

  it.each(PUBLISHED)('@sente-rx/%s has rxjs as a peer only, sibling packages by range, and its metadata', (pkg) => {
    const m = manifestOf(`@sente-rx/${pkg}`);
    expect(m.license).toBe('EPL-1.0');
    expect(m.repository, 'repository').toBeDefined();
    expect(m.homepage, 'homepage').toMatch(/^https:\/\//);
    expect(m.keywords?.length, 'keywords').toBeGreaterThan(0);
    expect(m.peerDependencies?.rxjs, 'rxjs peer').toMatch(/^\^7\.8/);
    expect(Object.keys(m.dependencies ?? {}), 'rxjs must not be a dependency (apps would get a second copy)').not.toContain('rxjs');
    for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
      if (dep.startsWith('@sente-rx/')) expect(range, `${pkg} → ${dep}`).toMatch(/^\^\d/);
    }
    expect(Object.keys(m.dependencies ?? {}).includes('ws'), 'ws belongs to the server (its Node adapter) alone').toBe(pkg === 'server');
  });
});

describe('a fresh app on rxjs 7.8.1', () => {
  it('has the README quick start to type-check', () => {
    expect(quickStart).toEqual(['server.ts', 'browser.ts', 'node-client.ts']);
  });

  it('has exactly one rxjs, the app\'s own', async () => {
    const { stdout } = await run('npm', ['ls', 'rxjs', '--all', '--parseable', '--long'], app);
    const copies = stdout.split('\n').filter((l) => /node_modules[\\/]rxjs:rxjs@/.test(l));
    expect(copies, `rxjs copies in the app:\n${stdout}`).toHaveLength(1);
    expect(copies[0]).toContain(`rxjs@${APP_RXJS}`);
  });

  const configs = {
    nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
    bundler: { module: 'esnext', moduleResolution: 'bundler' },
    // TypeScript 6 deprecates node10 resolution; apps still on it need the types/typesVersions fallbacks.
    node10: { module: 'esnext', moduleResolution: 'node', ignoreDeprecations: '6.0' },
  } as const;

  it.each(Object.keys(configs) as (keyof typeof configs)[])('type-checks the user file and the README quick start under %s resolution', async (name) => {
    const tsconfig = {
      compilerOptions: {
        ...configs[name],
        target: 'es2022',
        lib: ['es2022', 'dom'],
        types: ['node'],
        strict: true,
        esModuleInterop: true,
        skipLibCheck: false,
        noEmit: true,
      },
      files: ['app.ts', ...quickStart],
    };
    writeFileSync(path.join(app, `tsconfig.${name}.json`), JSON.stringify(tsconfig, null, 2));
    const { stdout } = await run(process.execPath, [TSC, '-p', `tsconfig.${name}.json`, '--pretty', 'false'], app);
    expect(stdout).toBe('');
  }, 3 * MINUTES);

  it('runs the user file against its server, over ws and ajax, on the app\'s rxjs', async () => {
    const tsconfig = {
      compilerOptions: { module: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], types: ['node'], strict: true, esModuleInterop: true, skipLibCheck: true, outDir: 'out' },
      files: ['app.ts'],
    };
    writeFileSync(path.join(app, 'tsconfig.emit.json'), JSON.stringify(tsconfig, null, 2));
    await run(process.execPath, [TSC, '-p', 'tsconfig.emit.json', '--pretty', 'false'], app);
    const { stdout } = await run(process.execPath, ['out/app.js'], app);
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as unknown;
    expect(out).toEqual({
      anonymous: 'sente/nil-uid',
      chskErrorIsClass: true,
      results: (['ws', 'ajax'] as const).map((type) => ({
        type,
        stateIsAppObservable: true,
        openType: type,
        uid: `user-${type}`,
        reply: { echoed: { n: 1 }, uid: `user-${type}`, transport: type },
      })),
      wsOnly: { type: 'ws', stateIsAppObservable: true, openType: 'ws', uid: 'user-ws', reply: { echoed: { n: 1 }, uid: 'user-ws', transport: 'ws' } },
    });
  }, 3 * MINUTES);
});
