/**
 * ednPacker against Clojure itself (Debian's `clojure`, i.e. clojure.main): what we write is read
 * by `clojure.edn/read-string` into the expected values, and what Clojure's `pr-str` prints is
 * read by us into the expected JS values. One JVM for the whole file: a script reads
 * tab-separated requests from stdin and answers one line each.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ednPacker } from '../src/edn.js';
import { Uuid } from '../src/shape.js';
import { CLIENT_FRAMES, SERVER_FRAMES } from './vectors.js';

// Found on PATH without starting a JVM (the one JVM of this file starts in beforeAll).
const hasClojure = spawnSync('sh', ['-c', 'command -v clojure'], { stdio: 'ignore' }).status === 0;
if (!hasClojure) {
  if (process.env['CI'] === 'true') throw new Error('clojure is missing under CI=true: .ci/run installs Debian\'s clojure package');
  console.warn('\n*** SKIPPING the Clojure EDN interop tests: no `clojure` binary (apt-get install clojure) ***\n');
}

// eq <ours> <clojure-expr>: is (edn/read-string ours) = (eval expr)?  pr <clojure-expr>: pr-str of (eval expr)
const SCRIPT = String.raw`
(require '[clojure.edn :as edn])
(doseq [line (line-seq (java.io.BufferedReader. *in*))]
  (let [[op a b] (clojure.string/split line #"\t")]
    (println
      (try
        (case op
          "eq" (let [v (edn/read-string a) e (eval (read-string b))]
                 (str (= v e) " " (= (map type (tree-seq coll? seq v)) (map type (tree-seq coll? seq e))) " " (pr-str v)))
          "pr" (pr-str (eval (read-string a))))
        (catch Throwable t (str "ERROR " (.getMessage t)))))
    (flush)))
`;

let ask: (line: string) => Promise<string> = () => Promise.reject(new Error('no clojure'));

beforeAll(() => {
  if (!hasClojure) return;
  const dir = mkdtempSync(join(tmpdir(), 'sente-rx-clj-'));
  const script = join(dir, 'interop.clj');
  writeFileSync(script, SCRIPT);
  const proc = spawn('clojure', [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: ((line: string) => void)[] = [];
  let buf = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  ask = (line) =>
    new Promise((resolve) => {
      waiting.push(resolve);
      proc.stdin.write(`${line}\n`);
    });
  return () => {
    proc.stdin.end();
  };
}, 60_000);

const d = (y: number, mo: number, day: number, h = 0, mi = 0, s = 0, ms = 0): Date => new Date(Date.UTC(y, mo - 1, day, h, mi, s, ms));

/** What we write, and the Clojure value it must read as. */
const WRITTEN: readonly { readonly name: string; readonly value: unknown; readonly kind?: Parameters<typeof ednPacker.pack>[1]; readonly clj: string }[] = [
  { name: 'handshake', kind: 'handshake', value: [['chsk/handshake', ['alice', null, { motd: 'hi' }, true]], null], clj: `[[:chsk/handshake ["alice" nil {:motd "hi"} true]] nil]` },
  { name: 'nil-uid handshake', kind: 'handshake', value: [['chsk/handshake', ['sente/nil-uid', null, null]], null], clj: `[[:chsk/handshake [:sente/nil-uid nil nil]] nil]` },
  { name: 'batch', kind: 'server-batch', value: [[['chat/msg', { text: 'hi', n: 1 }], ['chat/msg', { text: 'again' }]], null], clj: `[[[:chat/msg {:text "hi" :n 1}] [:chat/msg {:text "again"}]] nil]` },
  { name: 'reply with keyword-looking strings', kind: 'reply', value: [{ ok: 'chsk/ws-ping', list: ['a/b'] }, 'cb1'], clj: `[{:ok "chsk/ws-ping" :list ["a/b"]} "cb1"]` },
  { name: 'ajax event', kind: 'ajax-event', value: [['my/req', { x: 1 }], 'ajax'], clj: `[[:my/req {:x 1}] :ajax]` },
  { name: 'specials', kind: 'lp-timeout', value: ['chsk/timeout', null], clj: `[:chsk/timeout nil]` },
  { name: 'error reply', kind: 'error', value: ['chsk/error', 'cb9'], clj: `[:chsk/error "cb9"]` },
  {
    name: 'every data type',
    value: {
      s: 'q"\\\n\t\r\b\f\u0001é😀',
      n: [0, -7, 1.5, -0, 1e21, 2 ** 60, 9007199254740991],
      big: [12345678901234567890n, -(2n ** 70n), 5n],
      inf: [Infinity, -Infinity],
      set: new Set([1, 'a']),
      inst: d(2020, 1, 2, 3, 4, 5, 678),
      uuid: new Uuid('6f1c2b1e-0000-4000-8000-000000000001'),
      map: new Map<unknown, unknown>([[1, 2], ['str-key', null], [[1], 'v']]),
      'odd key': true,
      'ns/k': false,
      é: 1,
    },
    clj: String.raw`{:s (str "q\"\\\n\t\r" (char 8) (char 12) (char 1) "é😀") :n [0 -7 1.5 -0.0 1.0E21 1.15292150460684698E18 9007199254740991] :big [12345678901234567890N -1180591620717411303424N 5N] :inf [##Inf ##-Inf] :set #{1 "a"} :inst #inst "2020-01-02T03:04:05.678Z" :uuid #uuid "6f1c2b1e-0000-4000-8000-000000000001" :map {1 2 "str-key" nil [1] "v"} "odd key" true :ns/k false :é 1}`,
  },
];

/** What Clojure prints, and the JS value we must read. */
const PRINTED: readonly { readonly name: string; readonly clj: string; readonly js: unknown }[] = [
  { name: 'handshake', clj: `[[:chsk/handshake ["alice" nil {:hd "hello"}]] nil]`, js: [['chsk/handshake', ['alice', null, { hd: 'hello' }]], null] },
  { name: 'nil-uid handshake', clj: `[[:chsk/handshake [:sente/nil-uid nil nil]] nil]`, js: [['chsk/handshake', ['sente/nil-uid', null, null]], null] },
  { name: 'batch', clj: `[[[:test/push {:i 0}] [:test/push {:i 1}]] nil]`, js: [[['test/push', { i: 0 }], ['test/push', { i: 1 }]], null] },
  { name: 'reply', clj: `[{:echo {:x 1} :uid "bob"} "cb1"]`, js: [{ echo: { x: 1 }, uid: 'bob' }, 'cb1'] },
  { name: 'sets, #inst, #uuid', clj: `[#{:a} (java.util.Date. 1577934245678) (java.util.UUID/fromString "6f1c2b1e-0000-4000-8000-000000000001")]`, js: [new Set(['a']), d(2020, 1, 2, 3, 4, 5, 678), new Uuid('6f1c2b1e-0000-4000-8000-000000000001')] },
  { name: 'big integers', clj: `[12345678901234567890N 9223372036854775807 -9223372036854775808 (bigint 5) 9007199254740991]`, js: [12345678901234567890n, 9223372036854775807n, -9223372036854775808n, 5n, 9007199254740991] },
  { name: '\\b, \\f and unicode in strings', clj: String.raw`(str "a" (char 8) "b" (char 12) "c\né\u2028😀\"\\")`, js: 'a\bb\fc\né\u2028😀"\\' },
  { name: 'characters', clj: `[\\a \\newline \\space \\tab \\backspace \\formfeed \\return \\é]`, js: ['a', '\n', ' ', '\t', '\b', '\f', '\r', 'é'] },
  { name: 'doubles and specials', clj: `[1.5 -0.0 1.0E21 1.0E-7 ##Inf ##-Inf ##NaN 1.5M 1/3]`, js: [1.5, -0, 1e21, 1e-7, Infinity, -Infinity, NaN, 1.5, 1 / 3] },
  { name: 'namespaced map (printed as #:user{…})', clj: `{:user/a 1 :user/b 2}`, js: { 'user/a': 1, 'user/b': 2 } },
  { name: 'maps with string and number keys, a big map in hash order', clj: `[{"str-key" {1 2}} (into {} (map (fn [i] [(keyword (str "k" i)) i]) (range 20)))]`, js: [new Map([['str-key', new Map([[1, 2]])]]), Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))] },
  { name: 'lists, symbols, keywords', clj: `'[(1 2) foo/bar :ns/kw nil true]`, js: [[1, 2], 'foo/bar', 'ns/kw', null, true] },
];

describe.skipIf(!hasClojure)('ednPacker against Clojure (clojure.edn, pr-str)', () => {
  for (const w of WRITTEN) {
    it(`Clojure reads what we write: ${w.name}`, async () => {
      const ours = ednPacker.pack(w.value, w.kind);
      const answer = await ask(`eq\t${ours}\t${w.clj}`);
      expect(answer, ours).toMatch(/^true true /);
    });
  }

  for (const p of PRINTED) {
    it(`we read what Clojure prints: ${p.name}`, async () => {
      const printed = await ask(`pr\t${p.clj}`);
      expect(printed).not.toMatch(/^ERROR/);
      expect(ednPacker.unpack(printed), printed).toEqual(p.js);
    });
  }

  it('Clojure reads every recorded Sente frame as we write it back', async () => {
    for (const v of [...SERVER_FRAMES, ...CLIENT_FRAMES]) {
      const ours = ednPacker.pack(ednPacker.unpack(v.frame), v.kind);
      if (v.repacked !== undefined) continue; // lossy by design (symbols, chars, ratios): covered above
      expect(await ask(`eq\t${ours}\t'${v.frame}`), v.name).toMatch(/^true true /);
    }
  });
});
