/** The worker's options, their defaults and their checks. */
import { DispatchError } from '../core/errors.js';
import { checkKeys } from '../core/option-keys.js';
import type { PartitionOptions } from '../maintain/partitions.js';
import type { RetentionOptions } from '../maintain/retention.js';
import type { RollupOptions } from '../maintain/rollup.js';
import type { SchedulerOptions } from '../maintain/scheduler.js';

export interface WorkerOptions {
  /** Attempts run at once in this process. (Default: 25) */
  concurrency?: number;
  /**
   * Claimed jobs kept waiting for a free slot, so a finished attempt's slot
   * refills without a round trip and claims come in batches. A job waits at
   * most 10 s before going back to the queue for other workers; 0 claims only
   * for free slots. (Default: concurrency, at least 64)
   */
  prefetch?: number;
  /** On stop, how long running attempts may take to finish before they are aborted and released, in ms. (Default: 10000) */
  gracePeriodMs?: number;
  /**
   * How often to look for jobs that became due, in ms. New calls arrive by
   * LISTEN/NOTIFY and the worker wakes itself for the retries it schedules;
   * the poll finds other workers' retries and rescued calls. (Default: 1000)
   */
  pollIntervalMs?: number;
  /** Stop on SIGTERM and SIGINT. (Default: false in-process; the CLI sets it) */
  handleSignals?: boolean;
  /**
   * Log a promise rejection nobody handled (a handler's stray promise) and
   * keep running, instead of Node ending the process with every attempt in
   * it. Applies to the whole process. (Default: false in-process; the CLI sets it)
   */
  handleRejections?: boolean;
  /** How often this worker refreshes its row in `workers`, in ms. (Default: 5000) */
  heartbeatIntervalMs?: number;
  /** A worker whose heartbeat is older than this is lost: its calls are released to run again, in ms. (Default: 30000) */
  rescueAfterMs?: number;
  /** Pruning of finished calls by this worker, or false to leave it to `pgdispatch prune`. (Default: older than 30 days, every 10 minutes) */
  retention?: RetentionOptions | false;
  /** Counting attempts per minute for the dashboard's stats (one worker at a time does it), or false. (Default: every 5 s) */
  statsRollup?: RollupOptions | false;
  /** Creating the history's daily partitions ahead (one worker at a time does it), or false to leave it to other workers or `pgdispatch partitions`. (Default: 7 days ahead, looked at every 10 minutes) */
  partitions?: PartitionOptions | false;
  /** Dispatching the ticks of `schedules` (every worker takes part; one dispatches each tick), or false. (Default: on) */
  schedules?: SchedulerOptions | false;
  /** Serve Prometheus `/metrics` and `/healthz` on this port (0: any free port). (Default: no server) */
  metricsPort?: number;
  /** Address the metrics server binds. (Default: `0.0.0.0`) */
  metricsHost?: string;
}

/** The default prefetch of a worker whose concurrency is lower. */
const MIN_DEFAULT_PREFETCH = 64;

// Every option key, so that a misspelt one is refused (the type checker keeps it complete).
const WORKER_OPTION_KEYS = {
  concurrency: true,
  prefetch: true,
  gracePeriodMs: true,
  pollIntervalMs: true,
  handleSignals: true,
  handleRejections: true,
  heartbeatIntervalMs: true,
  rescueAfterMs: true,
  retention: true,
  statsRollup: true,
  partitions: true,
  metricsPort: true,
  metricsHost: true,
  schedules: true,
} as const satisfies Record<keyof WorkerOptions, true>;
const RETENTION_KEYS = {
  olderThanMs: true,
  intervalMs: true,
  batchSize: true,
} as const satisfies Record<keyof RetentionOptions, true>;
const ROLLUP_KEYS = {
  intervalMs: true,
  batchSize: true,
} as const satisfies Record<keyof RollupOptions, true>;
const PARTITION_KEYS = {
  daysAhead: true,
  intervalMs: true,
} as const satisfies Record<keyof PartitionOptions, true>;

export interface WorkerHandle {
  /** This worker's id: what its jobs are locked by (`locked_by` in graphile-worker's jobs table). */
  readonly id: string;
  /** Stops claiming, waits for running attempts (grace period), releases the rest. */
  stop(): Promise<void>;
  /** Settles when the worker has stopped. */
  readonly done: Promise<void>;
  /** The port the metrics server listens on, when `metricsPort` was given. */
  readonly metricsPort: number | undefined;
  /**
   * This worker's metrics in the Prometheus text format (what its `/metrics`
   * serves), to add to the application's own endpoint; serve it with
   * `PROMETHEUS_CONTENT_TYPE`.
   *
   * @example
   * app.get('/metrics', async (req, res) => {
   *   res.type(PROMETHEUS_CONTENT_TYPE).send((await register.metrics()) + (await worker.metrics()));
   * });
   */
  metrics(): Promise<string>;
}

export interface ResolvedWorkerOptions {
  concurrency: number;
  prefetch: number;
  gracePeriodMs: number;
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
  rescueAfterMs: number;
}

export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  checkKeys(options, WORKER_OPTION_KEYS, 'worker option');
  if (options.retention) checkKeys(options.retention, RETENTION_KEYS, 'retention option');
  if (options.statsRollup) checkKeys(options.statsRollup, ROLLUP_KEYS, 'statsRollup option');
  if (options.partitions) {
    checkKeys(options.partitions, PARTITION_KEYS, 'partitions option');
    const { daysAhead } = options.partitions;
    if (daysAhead !== undefined && !(Number.isInteger(daysAhead) && daysAhead >= 1)) {
      throw new DispatchError('INVALID_OPTION', 'partitions.daysAhead must be an integer >= 1');
    }
  }
  const concurrency = options.concurrency ?? 25;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new DispatchError('INVALID_OPTION', 'concurrency must be an integer >= 1');
  }
  // A claim costs Postgres a few hundred µs however few jobs it takes, so
  // claims of a few dozen jobs spend most of it on that: at least 64.
  const prefetch = options.prefetch ?? Math.max(concurrency, MIN_DEFAULT_PREFETCH);
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new DispatchError('INVALID_OPTION', 'prefetch must be an integer >= 0');
  }
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
  const rescueAfterMs = options.rescueAfterMs ?? 30_000;
  if (!(heartbeatIntervalMs > 0 && rescueAfterMs > heartbeatIntervalMs)) {
    throw new DispatchError(
      'INVALID_OPTION',
      'heartbeatIntervalMs must be > 0 and rescueAfterMs greater than it',
    );
  }
  return {
    concurrency,
    prefetch,
    gracePeriodMs: options.gracePeriodMs ?? 10_000,
    pollIntervalMs: options.pollIntervalMs ?? 1_000,
    heartbeatIntervalMs,
    rescueAfterMs,
  };
}
