/**
 * The baseline worker process: graphile-worker 0.17.3 running the same POST
 * as a plain task that throws on a non-2xx. GW_MODE=defaults keeps
 * graphile-worker's defaults except concurrency and pool size (set to
 * pgdispatch's); GW_MODE=local adds the local queue and batched completion,
 * the fastest graphile-worker offers: a local queue the size of the
 * concurrency and completions batched with no delay.
 */
import { run, type TaskList } from 'graphile-worker';
import { now } from './lib.js';
import { type PostInput, post } from './post.js';

const env = process.env;
const concurrency = Number(env['GW_CONCURRENCY'] ?? 50);
const mode = env['GW_MODE'] ?? 'defaults';
const batchDelay = Number(env['GW_BATCH_DELAY'] ?? 0);

const taskList: TaskList = {
  bench_post: async (payload) => {
    await post(payload as PostInput);
  },
  bench_latency: (payload) => {
    process.send?.({ type: 'started', seq: (payload as { seq: number }).seq, at: now() });
  },
};

const runner = await run({
  connectionString: env['DATABASE_URL'],
  concurrency,
  // pgdispatch's pool default; graphile-worker's own (10) warns below the concurrency.
  maxPoolSize: Number(env['GW_POOL_SIZE'] ?? 20),
  taskList,
  ...(mode === 'local'
    ? {
        preset: {
          worker: {
            // The same buffer as a pgdispatch worker's default prefetch.
            localQueue: { size: Math.max(concurrency, 64) },
            completeJobBatchDelay: batchDelay,
            failJobBatchDelay: batchDelay,
          },
        },
      }
    : {}),
});
// SIGTERM from the orchestrator: graphile-worker's own handler shuts it down gracefully.
await runner.promise;
