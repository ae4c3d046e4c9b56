import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Files whose assertions bound time or rates under CPU load (a slow
 * receiver never holding more than its share, a 503 share, a rescue within
 * its window, a rate's spread). They run one at a time, after the rest,
 * with the machine to themselves; everything else runs three files at a
 * time, since most of a file's time is spent waiting on Postgres, HTTP and
 * child processes (the schedule ticks' file too: it mostly sleeps).
 */
const timed = [
  'test/webhook.test.ts',
  'test/webhook-adaptive.test.ts',
  'test/flow-rate.test.ts',
  'test/flow-concurrency.test.ts',
  'test/rescue.test.ts',
  'test/workers.test.ts',
  'test/chaos.test.ts',
];

const shared = {
  globalSetup: ['test/support/global-setup.ts'],
  // Each file gets its own database (cloned from a migrated template), so
  // files run in parallel; tests inside a file run in order.
  pool: 'forks' as const,
  testTimeout: 60_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  // README examples import 'pgdispatch' (test/readme.test.ts runs them): the sources.
  resolve: {
    alias: [{ find: /^pgdispatch$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }],
  },
  test: {
    // In CI, also a JSON report, from which .ci/run prints a plain "N passed, N failed" line.
    reporters: process.env['CI']
      ? ['default', ['json', { outputFile: 'test-results.json' }]]
      : ['default'],
    projects: [
      {
        extends: true,
        test: {
          ...shared,
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: timed,
          maxWorkers: 3,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          ...shared,
          name: 'timed',
          include: timed,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
