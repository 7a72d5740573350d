import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it("shows exactly the example the suite runs (test/readme-example.test.ts)", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = /<!-- readme-example:start -->\n```ts\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(readme);
    expect(block, 'the README has the marked example block').not.toBeNull();
    expect(block?.[1]).toBe(readFileSync(new URL('./readme-example.test.ts', import.meta.url), 'utf8'));
  });
});
