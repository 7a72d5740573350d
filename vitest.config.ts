import { defineConfig } from 'vitest/config';

// Tests run from sources: the "sente-rx-source" export condition points each @sente-rx package at
// its src/ entry, the same way tsconfig.json's customConditions do for the typecheck.
// Vitest hands ssr.resolve.conditions to its workers as Node --conditions: keep to Node's own
// ('import' there makes require() load packages' ESM builds, which breaks Express 5's router).
export default defineConfig({
  resolve: { conditions: ['sente-rx-source', 'module', 'node', 'development|production'] },
  ssr: { resolve: { conditions: ['sente-rx-source', 'node', 'development|production'], externalConditions: ['sente-rx-source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
