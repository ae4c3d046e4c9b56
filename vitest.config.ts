import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // README examples import 'pgdispatch' (test/readme.test.ts runs them): the sources.
  resolve: {
    alias: [{ find: /^pgdispatch$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file gets its own database (cloned from a migrated template), so
    // files run in parallel; tests inside a file run in order.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // In CI, also a JSON report, from which .ci/run prints a plain "N passed, N failed" line.
    reporters: process.env['CI']
      ? ['default', ['json', { outputFile: 'test-results.json' }]]
      : ['default'],
  },
});
