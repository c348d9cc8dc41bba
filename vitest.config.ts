import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Node loads graphql's CommonJS build for the libraries; make our code use the same copy
    // (two copies of graphql cannot share a schema).
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    // `npm run test:guard` swaps in its own file (a deliberately failing test) to prove that
    // a failing run exits non-zero; `npm test` never runs it.
    include: process.env.POSTLINE_TEST_GUARD
      ? ['test/exit-guard/*.guard.ts']
      : ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Each file gets its own database cloned from a migrated, seeded template.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    env: { NODE_ENV: 'test' },
  },
});
