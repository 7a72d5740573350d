import { defineConfig } from 'vitest/config';

// Tests run from sources: the "sente-rx-source" export condition points each @sente-rx package at
// its src/ entry, the same way tsconfig.json's customConditions do for the typecheck.
export default defineConfig({
  resolve: { conditions: ['sente-rx-source', 'module', 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: ['sente-rx-source', 'module', 'node', 'import', 'default'], externalConditions: ['sente-rx-source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
