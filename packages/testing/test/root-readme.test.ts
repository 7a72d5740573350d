/**
 * The root README's TypeScript snippets are real code: each block marked
 * `<!-- snippet: root-readme/NAME -->` is the `#region readme` of packages/testing/test/root-readme/NAME,
 * which `npm test`'s typecheck compiles with the repository (and vitest runs, for `*.test.ts`).
 * The quick-start blocks are checked by packages/install-check against the packed tarballs instead.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const dir = new URL('./root-readme/', import.meta.url);

/** The text between `// #region readme` and `// #endregion readme`, or null. */
function region(source: string): string | null {
  const m = /^\/\/ #region readme\n([\s\S]*?)^\/\/ #endregion readme$/m.exec(source);
  return m?.[1] === undefined ? null : m[1].replace(/\n$/, '');
}

const blocks = [...readme.matchAll(/<!-- snippet: root-readme\/([\w.-]+\.ts) -->\n```ts\n([\s\S]*?)\n```/g)].map(([, name, code]) => ({ name: name ?? '', code: code ?? '' }));

describe('the root README snippets', () => {
  it('every snippet file is shown in the README once, and every marked block has its file', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
    expect(blocks.map((b) => b.name).sort()).toEqual(files);
  });

  it.each(blocks)('root-readme/$name is the README block, character for character', ({ name, code }) => {
    const source = readFileSync(new URL(name, dir), 'utf8');
    expect(region(source), `${name} has a // #region readme … // #endregion readme`).not.toBeNull();
    expect(code).toBe(region(source));
  });

  it('every TypeScript block in the README is checked (a snippet or a quick start)', () => {
    const unmarked = [...readme.matchAll(/(<!-- [^\n]* -->\n)?```ts\n/g)].filter(([, marker]) => marker === undefined || !/<!-- (snippet|quick-start): /.test(marker));
    expect(unmarked.map((m) => readme.slice(m.index, m.index + 80))).toEqual([]);
  });
});
