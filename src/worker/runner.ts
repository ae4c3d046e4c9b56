/**
 * The worker: a graphile-worker runner whose tasks are the instance's
 * functions, with batched job fetching and completion, our recorder for
 * outcomes, and a graceful stop that gives unfinished attempts back.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { type Runner, run, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Dispatch } from '../dispatch.js';
import { toGraphileLogger } from './graphile-logger.js';
import { Heartbeat } from './heartbeat.js';
import { Metrics } from './metrics.js';
import { Recorder } from './recorder.js';
import { resilientPool } from './resilient-pool.js';
import { Retention, type RetentionOptions } from './retention.js';
import { makeTask } from './task.js';

export interface WorkerOptions {
  /** Attempts run at once in this process. (Default: 25) */
  concurrency?: number;
  /** On stop, how long running attempts may take to finish before they are aborted and released, in ms. (Default: 10000) */
  gracePeriodMs?: number;
  /** Poll interval for scheduled retries, in ms; new calls arrive by LISTEN/NOTIFY at once. (Default: 1000) */
  pollIntervalMs?: number;
  /** Stop on SIGTERM and SIGINT. (Default: false in-process; the CLI sets it) */
  handleSignals?: boolean;
  /** How often this worker refreshes its row in `workers`, in ms. (Default: 5000) */
  heartbeatIntervalMs?: number;
  /** A worker whose heartbeat is older than this is lost: its calls are released to run again, in ms. (Default: 30000) */
  rescueAfterMs?: number;
  /** Pruning of finished calls by this worker, or false to leave it to `pgdispatch prune`. (Default: older than 30 days, every 10 minutes) */
  retention?: RetentionOptions | false;
  /** Serve Prometheus `/metrics` and `/healthz` on this port (0: any free port). (Default: no server) */
  metricsPort?: number;
  /** Address the metrics server binds. (Default: `0.0.0.0`) */
  metricsHost?: string;
}

export interface WorkerHandle {
  /** This worker's id: the graphile-worker pool id its jobs are locked by. */
  readonly id: string;
  /** Stops claiming, waits for running attempts (grace period), releases the rest. */
  stop(): Promise<void>;
  /** Settles when the worker has stopped. */
  readonly done: Promise<void>;
  /** The port the metrics server listens on, when `metricsPort` was given. */
  readonly metricsPort: number | undefined;
}

export async function startWorker(
  dispatch: Dispatch,
  options: WorkerOptions = {},
): Promise<WorkerHandle> {
  const concurrency = options.concurrency ?? 25;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TypeError('concurrency must be an integer >= 1');
  }
  const gracePeriodMs = options.gracePeriodMs ?? 10_000;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
  const rescueAfterMs = options.rescueAfterMs ?? 30_000;
  if (!(heartbeatIntervalMs > 0 && rescueAfterMs > heartbeatIntervalMs)) {
    throw new TypeError('heartbeatIntervalMs must be > 0 and rescueAfterMs greater than it');
  }
  const logger = dispatch.logger.child({ component: 'worker' });
  await dispatch.registerFunctions(true);

  let poolId = '';
  const events: WorkerEvents = new EventEmitter() as WorkerEvents;
  events.on('pool:create', ({ workerPool }) => {
    poolId = workerPool.id;
  });

  const snooze = async (job: { job_id: string; delay_ms: number }) => {
    await dispatch.pool.query({
      ...dispatch.queries.snoozeJobs,
      values: [JSON.stringify([job]), poolId],
    });
  };
  const recorder = new Recorder(dispatch.pool, dispatch.queries, logger);
  const metrics = new Metrics(dispatch, logger);
  const env = {
    recorder,
    logger: dispatch.logger,
    workerId: () => poolId,
    release: async (job: { job_id: string; call_id: string; attempt: number }) => {
      await dispatch.pool.query({
        ...dispatch.queries.releaseJobs,
        values: [JSON.stringify([job]), poolId, 'worker shutting down before the attempt finished'],
      });
    },
    onAttempt: (fn: string, outcome: { status: string; duration_ms: number }) =>
      metrics.recordAttempt(fn, outcome.status, outcome.duration_ms),
    snooze,
  };
  // Bound before the runner starts, so a taken port fails the start cleanly.
  let heartbeat: Heartbeat | undefined;
  let stopped = false;
  let metricsPort: number | undefined;
  if (options.metricsPort !== undefined) {
    const host = options.metricsHost ?? '0.0.0.0';
    metricsPort = await metrics.listen(options.metricsPort, host, () => ({
      ok: !stopped && heartbeat?.healthy === true,
      workerId: poolId,
      stopping: stopped,
      heartbeat: heartbeat?.healthy ? 'ok' : 'failing',
    }));
    logger.info({ metricsPort }, `metrics on http://${host}:${metricsPort}/metrics`);
  }

  const taskList: TaskList = {};
  for (const fn of dispatch.functions.values()) taskList[fn.name] = makeTask(fn, env);

  // Installed before the runner claims its first jobs: a signal arriving
  // while it starts must not kill the process with jobs locked.
  let stop: () => Promise<void> = async () => {};
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, `received ${signal}`);
    signalled = signal;
    void stop();
  };
  if (options.handleSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  let runner: Runner;
  try {
    runner = await run({
      pgPool: resilientPool(dispatch.pool, { logger }),
      taskList,
      concurrency,
      noHandleSignals: true,
      pollInterval: options.pollIntervalMs ?? 1_000,
      logger: toGraphileLogger(dispatch.logger),
      events,
      preset: {
        worker: {
          // Fetch (and lock) jobs in batches, complete them in batches: the
          // difference between one round trip per job and one per batch.
          localQueue: { size: concurrency },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
          gracefulShutdownAbortTimeout: gracePeriodMs,
        },
      },
    });
  } catch (err) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await metrics.close();
    throw err;
  }
  logger.info(
    {
      workerId: poolId,
      host: hostname(),
      pid: process.pid,
      concurrency,
      functions: Object.keys(taskList),
    },
    `worker ${poolId} started: ${Object.keys(taskList).join(', ')} (concurrency ${concurrency})`,
  );

  heartbeat = new Heartbeat(dispatch, {
    workerId: poolId,
    concurrency,
    functions: Object.keys(taskList),
    intervalMs: heartbeatIntervalMs,
    rescueAfterMs,
    logger,
    onRescue: (r) => metrics.recordRescue(r),
  });
  await heartbeat.start();
  const retention =
    options.retention === false
      ? undefined
      : new Retention(dispatch, options.retention ?? {}, logger);
  retention?.start();

  let stopping: Promise<void> | null = null;
  stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ workerId: poolId }, 'worker stopping: finishing running attempts');
      stopped = true;
      await retention?.stop();
      await runner
        .stop()
        .catch((err: unknown) => logger.warn({ err }, 'worker stopped with errors'));
      await recorder.flush();
      // Only now: a row removed while attempts still ran would let a rescuer
      // take them.
      await heartbeat?.stop();
      await metrics.close();
      logger.info({ workerId: poolId }, 'worker stopped');
    })();
    return stopping;
  };

  if (signalled) void stop();
  const done = runner.promise
    .then(
      () => stop(),
      async (err: unknown) => {
        // Errors while stopping on request (a job that could not be failed
        // cleanly, say) are logged by stop(); only a worker that died on its
        // own is a failure of the process.
        const requested = stopping !== null;
        await stop();
        if (!requested) throw err;
        logger.warn({ err }, 'worker pool reported errors while stopping');
      },
    )
    .finally(() => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    });
  done.catch(() => undefined);

  return { id: poolId, stop, done, metricsPort };
}
