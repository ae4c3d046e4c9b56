/**
 * The module the pgdispatch CLI runs in the worker processes:
 * `pgdispatch worker --module bench/dist/bench/worker-module.js`.
 * Logging stays at pgdispatch's default (one info line per attempt) into
 * the phase's log file, as graphile-worker's does for the baseline.
 */
import { benchInstance } from './instance.js';

const { dispatch } = benchInstance({
  connectionString: process.env['DATABASE_URL'],
  concurrency: Number(process.env['BENCH_CONCURRENCY'] ?? 50),
});

export default dispatch;
