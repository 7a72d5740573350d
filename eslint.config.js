import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'packages/example/public/**', '**/test-output/**', 'packages/docs/api/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Packages log through the injected logger; only the demo and the benchmarks print.
    files: ['packages/{core,server,client,testing,redis,packers}/src/**/*.ts'],
    ignores: ['packages/core/src/logger.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['**/*.test.ts'],
    rules: { 'no-restricted-properties': ['error', { object: 'it', property: 'only' }, { object: 'describe', property: 'only' }, { object: 'test', property: 'only' }] },
  },
);
