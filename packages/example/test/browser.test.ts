/**
 * The example app in a real browser: Debian's Chromium driven by playwright-core, over each
 * transport. The server runs from sources (../src/server.ts) and the page code is bundled from
 * sources with esbuild into a temp folder, so the suite tests the working tree, built or not.
 *
 * Chromium: /usr/bin/chromium, or CHROMIUM_PATH. Missing → the suite is skipped with a warning,
 * except with CI=true, where a missing browser fails the run.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startExampleServer, type ExampleServer } from '../src/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUTPUT_DIR = path.join(PKG, 'test-output');
const TRANSPORTS = ['ws', 'ajax', 'auto'] as const;
type Transport = (typeof TRANSPORTS)[number];
/** What each requested type should end up using in Chromium (auto prefers WebSocket). */
const IN_USE: Record<Transport, string> = { ws: 'ws', ajax: 'ajax', auto: 'ws' };

if (!HAVE_CHROMIUM && !IN_CI) {
  const bar = '!'.repeat(78);
  console.warn(
    `\n${bar}\n  SKIPPING packages/example/test/browser.test.ts: no Chromium at ${CHROMIUM}.\n` +
      `  Install it (apt-get install -y chromium) or set CHROMIUM_PATH. With CI=true this fails.\n${bar}\n`,
  );
}

describe('the browser', () => {
  it.skipIf(!HAVE_CHROMIUM && !IN_CI)(`is installed at ${CHROMIUM} (required when CI=true)`, () => {
    expect(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium`).toBe(true);
  });
});

/** Waits on page state, never on a fixed sleep. */
const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 50 });

let browser: Browser;
let publicDir: string;

describe.skipIf(!HAVE_CHROMIUM)('the example page', () => {
  beforeAll(async () => {
    publicDir = mkdtempSync(path.join(os.tmpdir(), 'sente-rx-example-'));
    await build({
      entryPoints: [path.join(PKG, 'src/browser/main.ts')],
      outfile: path.join(publicDir, 'app.js'),
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      sourcemap: true,
      conditions: ['sente-rx-source'], // the workspace packages' sources, as vitest resolves them
      logLevel: 'warning',
    });
    cpSync(path.join(PKG, 'static'), publicDir, { recursive: true });
    mkdirSync(OUTPUT_DIR, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (publicDir !== undefined) rmSync(publicDir, { recursive: true, force: true });
  });

  describe.each(TRANSPORTS)('over %s', (type) => {
    let server: ExampleServer;
    let serverLog: string[] = [];
    const contexts: BrowserContext[] = [];
    const pageErrors: Error[] = [];

    // A 3 s long-poll (Sente's default is 20 s) so a test page can time out a silenced poll quickly.
    const start = (port = 0) =>
      startExampleServer({ port, host: '127.0.0.1', publicDir, chsk: { lpTimeoutMs: 3_000 }, log: (line) => serverLog.push(line) });

    beforeAll(async () => {
      server = await start();
    });
    afterAll(async () => {
      await server?.close();
    });
    afterEach(async () => {
      await Promise.all(contexts.splice(0).map((c) => c.close()));
      serverLog = [];
      expect(pageErrors.splice(0), 'uncaught errors in the page').toEqual([]);
    });

    /** A page in a fresh browser context (its own cookies, so its own session), once it is open. */
    async function openPage(query = ''): Promise<Page> {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(err));
      await page.goto(`${server.url}/?type=${type}${query}`);
      await waitOpen(page);
      return page;
    }

    const conn = (page: Page, attr: string) => page.locator('#conn').getAttribute(attr);
    const text = (page: Page, selector: string) => page.locator(selector).innerText();
    const logText = (page: Page, id: string) => page.locator(`#log li[data-id="${id}"]`).allInnerTexts();

    async function waitOpen(page: Page, timeout?: number): Promise<void> {
      await poll(() => conn(page, 'data-open'), timeout).toBe('true');
    }

    /** Send with reply, and wait for the reply on the page. */
    async function expectEcho(page: Page): Promise<void> {
      await page.locator('#reply-output').evaluate((el) => (el.textContent = ''));
      await page.click('#btn-send-reply');
      await poll(() => text(page, '#reply-output')).toMatch(/^reply after \d+ ms: .*"text":"hello from the page"/);
      expect(await text(page, '#reply-output')).toContain(`"transport":"${IN_USE[type]}"`);
    }

    /** A test broadcast arrives whole and in order. */
    async function expectBroadcast(page: Page): Promise<void> {
      const before = await text(page, '#broadcast-status');
      await page.click('#btn-broadcast');
      await poll(() => text(page, '#broadcast-status')).not.toBe(before);
      await poll(() => text(page, '#broadcast-status')).toMatch(/^run #\d+: 100\/100 received, in order ✓$/);
    }

    async function login(page: Page, uid: string): Promise<void> {
      await page.fill('#login-uid', uid);
      await page.click('#login-form button[type="submit"]');
      await poll(() => conn(page, 'data-uid')).toBe(uid);
      await waitOpen(page);
    }

    async function pushTo(page: Page, to: string, message: string): Promise<void> {
      await page.fill('#push-to', to);
      await page.fill('#push-text', message);
      await page.click('#push-form button[type="submit"]');
      await poll(() => text(page, '#user-output')).toBe(`pushed to ${to} (connected)`);
    }

    /** The page's log recorded a close (the state may already be open again: retries are fast). */
    async function closeReasons(page: Page): Promise<string[]> {
      return (await logText(page, 'chsk/state')).flatMap((t) => /closed: (\S+)/.exec(t)?.[1] ?? []);
    }

    it('opens, answers a send with reply, takes a send without, and shows a 100-event broadcast in order', async () => {
      const page = await openPage();
      expect(await text(page, '#st-type')).toBe(type === 'auto' ? 'ws (asked for auto)' : type);
      expect(await text(page, '#st-uid')).toBe('sente/nil-uid (anonymous)');

      await expectEcho(page);

      await page.click('#btn-send');
      await poll(() => serverLog.some((l) => l.startsWith('hello from sente/nil-uid'))).toBe(true);
      expect(await text(page, '#reply-output')).toMatch(/^sent example\/hello/);

      await expectBroadcast(page);
      expect(await page.locator('#broadcast-grid span.got').count()).toBe(100);
      expect(await page.locator('#broadcast-grid span.late').count()).toBe(0);

      await page.click('#btn-uids');
      await poll(() => text(page, '#user-output')).toContain('connected uids: sente/nil-uid');
      await page.screenshot({ path: path.join(OUTPUT_DIR, `example-${type}.png`) });
    });

    it("shows the logged-in uid, and a push to a user reaches every page of that user and no one else's", async () => {
      const [bob1, bob2, carol] = await Promise.all([openPage(), openPage(), openPage()]);
      await login(bob1, 'bob');
      await login(bob2, 'bob');
      await login(carol, 'carol');
      expect(await text(bob1, '#st-uid')).toBe('bob');

      await pushTo(carol, 'bob', `for bob over ${type}`);
      for (const page of [bob1, bob2]) {
        await poll(() => logText(page, 'example/push')).toEqual([expect.stringContaining(`{"from":"carol","text":"for bob over ${type}"}`)]);
      }
      // carol got nothing for bob: once her own push has arrived, the earlier one is not coming.
      await pushTo(bob1, 'carol', 'for carol');
      await poll(() => logText(carol, 'example/push')).toEqual([expect.stringContaining('{"from":"bob","text":"for carol"}')]);
      expect((await logText(carol, 'example/push')).join('\n')).not.toContain('for bob');

      await carol.click('#btn-uids');
      await poll(() => text(carol, '#user-output')).toMatch(/^connected uids: bob, carol\b/);
      await bob1.screenshot({ path: path.join(OUTPUT_DIR, `example-${type}-logged-in.png`) });
    });

    it('a broadcast note reaches every page, anonymous or logged in', async () => {
      const [anon, dave] = await Promise.all([openPage(), openPage()]);
      await login(dave, 'dave');
      await anon.fill('#note-text', `note over ${type}`);
      await anon.click('#note-form button[type="submit"]');
      for (const page of [anon, dave]) await poll(() => text(page, '#note-output')).toBe(`note from sente/nil-uid: note over ${type}`);
    });

    it('the server asks this tab to confirm (a server→client request) and gets the answer', async () => {
      const page = await openPage();
      for (const [button, answer] of [['#btn-confirm-yes', 'yes'], ['#btn-confirm-no', 'no']] as const) {
        await page.click('#btn-ask-me');
        await poll(() => page.locator('#confirm-box').isVisible()).toBe(true);
        expect(await text(page, '#confirm-question')).toBe('Do you confirm this request from the server?');
        await page.click(button);
        await poll(() => text(page, '#note-output')).toBe(`the server got the answer: ${answer}`);
        expect(await page.locator('#confirm-box').isVisible()).toBe(false);
      }
    });

    it('disconnects on request and stays closed, then reconnects on request', async () => {
      const page = await openPage();
      await page.click('#btn-disconnect');
      await poll(() => conn(page, 'data-open')).toBe('false');
      expect(await conn(page, 'data-close-reason')).toBe('requested-disconnect');
      expect(await text(page, '#st-next')).toBe('—'); // no automatic reconnect scheduled

      await page.click('#btn-reconnect');
      await waitOpen(page);
      await expectEcho(page);
    });

    it('notices a socket killed without a close frame, and reconnects', async () => {
      const page = await openPage();
      await page.click('#btn-kill');
      await poll(() => serverLog.some((l) => /^break \(kill\) for client .*: [1-9]\d* socket/.test(l))).toBe(true);
      await poll(() => serverLog.some((l) => / is back on a new connection$/.test(l))).toBe(true);
      if (type === 'ajax') {
        // Chromium retries a GET whose reused keep-alive connection died before any answer
        // byte, so the client may never see this failure: what matters is that the poll came back.
        expect((await closeReasons(page)).filter((r) => r !== 'unexpected')).toEqual([]);
      } else {
        await poll(() => closeReasons(page)).toEqual(['unexpected']);
      }
      await waitOpen(page);
      await expectEcho(page);
      await expectBroadcast(page);
    });

    it('notices its own breakConnection(), and reconnects', async () => {
      const page = await openPage();
      await page.click('#btn-break');
      // It acts like a network failure on every transport: 'unexpected' (over ws: code 1006, not clean).
      await poll(() => closeReasons(page)).toEqual(['unexpected']);
      if (type === 'ws') expect(await text(page, '#st-ws')).toMatch(/^code 1006 .*\(not clean\)/);
      await waitOpen(page);
      await expectEcho(page);
    });

    it('notices a silent (half-dead) socket, and recovers', async () => {
      // Short client timers, so the test does not wait for the defaults (tens of seconds).
      const page = await openPage(type === 'ajax' ? '&ajaxTimeoutMs=5000' : '&wsKeepAliveMs=1000&wsPingTimeoutMs=1000');
      await page.click('#btn-silence');
      await poll(() => serverLog.some((l) => /^break \(silence\) for client .*: [1-9]\d* socket/.test(l))).toBe(true);
      if (type === 'ajax') {
        // Nothing closes: the held poll just never answers, until the client's request timeout
        // gives up on it and polls again on a fresh connection.
        await poll(() => serverLog.some((l) => / is back on a new connection$/.test(l))).toBe(true);
      } else {
        // The client's keep-alive ping goes unanswered.
        await poll(() => closeReasons(page)).toEqual(['ws-ping-timeout']);
        await waitOpen(page);
      }
      await expectEcho(page);
      await expectBroadcast(page); // pushes flow again
    });

    it('reconnects by itself when the server restarts on the same port', async () => {
      const page = await openPage();
      await login(page, 'dave');
      const { port } = server;
      await server.close();
      await poll(() => conn(page, 'data-open')).toBe('false');

      // A new process would forget every session: this one starts with an empty store too, so
      // the page must also recover its session (it fetches a new one when its token is refused).
      server = await start(port);
      await waitOpen(page, 20_000);
      await expectEcho(page);
      expect(await text(page, '#st-uid')).toBe('sente/nil-uid (anonymous)'); // the in-memory session (and uid) is gone
      await page.screenshot({ path: path.join(OUTPUT_DIR, `example-${type}-after-restart.png`) });
    }, 45_000);
  });
});
