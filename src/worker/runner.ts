/**
 * The worker: a graphile-worker runner whose tasks are the instance's
 * functions, with batched job fetching and completion, our recorder for
 * outcomes, and a graceful stop that gives unfinished attempts back.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { type Runner, run, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Dispatch } from '../dispatch.js';
import { toGraphileLogger } from '../log.js';
import { Recorder } from './recorder.js';
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
}

export interface WorkerHandle {
  /** This worker's id: the graphile-worker pool id its jobs are locked by. */
  readonly id: string;
  /** Stops claiming, waits for running attempts (grace period), releases the rest. */
  stop(): Promise<void>;
  /** Settles when the worker has stopped. */
  readonly done: Promise<void>;
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
    snooze,
  };
  const taskList: TaskList = {};
  for (const fn of dispatch.functions.values()) taskList[fn.name] = makeTask(fn, env);

  const runner: Runner = await run({
    pgPool: dispatch.pool,
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

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ workerId: poolId }, 'worker stopping: finishing running attempts');
      await runner
        .stop()
        .catch((err: unknown) => logger.warn({ err }, 'worker stopped with errors'));
      await recorder.flush();
      logger.info({ workerId: poolId }, 'worker stopped');
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, `received ${signal}`);
    void stop();
  };
  if (options.handleSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  const done = runner.promise
    .then(
      () => stop(),
      async (err: unknown) => {
        await stop();
        throw err;
      },
    )
    .finally(() => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    });
  done.catch(() => undefined);

  return { id: poolId, stop, done };
}
