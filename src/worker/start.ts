/**
 * The worker: claims the instance's graphile-worker jobs in batches (see
 * loop.ts), runs their attempts, records outcomes in group commits, keeps a
 * heartbeat, and on stop gives unfinished attempts back.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { registerFunctions } from '../dispatch/dispatch.js';
import type { Registry } from '../registry/registry.js';
import type { Runtime } from '../sql/runtime.js';
import { Heartbeat } from '../maintain/heartbeat.js';
import { type ClaimedJob, JobLoop } from '../queue/job-loop.js';
import { Metrics } from '../observe/metrics.js';
import { type AttemptOutcome, Recorder, type RecordResult } from '../record/recorder.js';
import { Retention, type RetentionOptions } from '../maintain/retention.js';
import { type Attempt, makeAttempt } from '../run/attempt.js';

export interface WorkerOptions {
  /** Attempts run at once in this process. (Default: 25) */
  concurrency?: number;
  /**
   * Claimed jobs kept waiting for a free slot, so a finished attempt's slot
   * refills without a round trip and claims come in batches. A job waits at
   * most 10 s before going back to the queue for other workers; 0 claims only
   * for free slots. (Default: concurrency)
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
  /** This worker's id: what its jobs are locked by (`locked_by` in graphile-worker's jobs table). */
  readonly id: string;
  /** Stops claiming, waits for running attempts (grace period), releases the rest. */
  stop(): Promise<void>;
  /** Settles when the worker has stopped. */
  readonly done: Promise<void>;
  /** The port the metrics server listens on, when `metricsPort` was given. */
  readonly metricsPort: number | undefined;
}

export async function startWorker(
  rt: Runtime,
  registry: Registry,
  options: WorkerOptions = {},
): Promise<WorkerHandle> {
  const concurrency = options.concurrency ?? 25;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TypeError('concurrency must be an integer >= 1');
  }
  const prefetch = options.prefetch ?? concurrency;
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new TypeError('prefetch must be an integer >= 0');
  }
  const gracePeriodMs = options.gracePeriodMs ?? 10_000;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
  const rescueAfterMs = options.rescueAfterMs ?? 30_000;
  if (!(heartbeatIntervalMs > 0 && rescueAfterMs > heartbeatIntervalMs)) {
    throw new TypeError('heartbeatIntervalMs must be > 0 and rescueAfterMs greater than it');
  }
  const logger = rt.logger.child({ component: 'worker' });
  await registerFunctions(rt, registry, true);

  const workerId = `worker-${randomBytes(9).toString('hex')}`;

  const snooze = async (job: { job_id: string; delay_ms: number }) => {
    await rt.pool.query({
      ...rt.queries.snoozeJobs,
      values: [JSON.stringify([job]), workerId],
    });
    // Claim it again when it is due, not at the next poll.
    loop?.wakeAt(new Date(Date.now() + job.delay_ms));
  };
  const recorder = new Recorder(rt.pool, rt.queries, logger, workerId);
  const metrics = new Metrics(rt, logger);
  let loop: JobLoop | undefined;
  const env = {
    recorder,
    logger: rt.logger,
    release: async (job: { job_id: string; call_id: string; attempt: number }) => {
      await rt.pool.query({
        ...rt.queries.releaseJobs,
        values: [
          JSON.stringify([job]),
          workerId,
          'worker shutting down before the attempt finished',
        ],
      });
    },
    onAttempt: (fn: string, outcome: AttemptOutcome, result: RecordResult) => {
      metrics.recordAttempt(fn, outcome.status, outcome.duration_ms);
      if (result.next_attempt_at) loop?.wakeAt(new Date(result.next_attempt_at));
    },
    snooze,
  };
  // The graphile-worker task of each function (created if no job named it yet).
  const { rows: tasks } = await rt.pool.query<{ id: number; identifier: string }>({
    ...rt.queries.taskIds,
    values: [registry.names()],
  });
  const attempts = new Map<number, Attempt>();
  for (const task of tasks) {
    const fn = registry.get(task.identifier);
    if (fn) attempts.set(task.id, makeAttempt(fn, env));
  }
  const functions = registry.names();

  // Bound before the first claim, so a taken port fails the start cleanly.
  let heartbeat: Heartbeat | undefined;
  let stopped = false;
  let metricsPort: number | undefined;
  if (options.metricsPort !== undefined) {
    const host = options.metricsHost ?? '0.0.0.0';
    metricsPort = await metrics.listen(options.metricsPort, host, () => ({
      ok: !stopped && heartbeat?.healthy === true,
      workerId,
      stopping: stopped,
      heartbeat: heartbeat?.healthy ? 'ok' : 'failing',
    }));
    logger.info({ metricsPort }, `metrics on http://${host}:${metricsPort}/metrics`);
  }

  // Installed before the first claim: a signal arriving while the worker
  // starts must not kill the process with jobs locked.
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
  const removeSignalHandlers = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };

  loop = new JobLoop({
    pool: rt.pool,
    queries: rt.queries,
    logger,
    workerId,
    taskIds: [...attempts.keys()],
    concurrency,
    bufferSize: prefetch,
    pollIntervalMs: options.pollIntervalMs ?? 1_000,
    run: async (job: ClaimedJob, shutdown: AbortSignal) => {
      const attempt = attempts.get(job.task_id);
      if (!attempt) throw new Error(`no function for graphile-worker task ${job.task_id}`);
      return attempt(job, shutdown);
    },
  });
  // Registered before the first claim, so a rescuer never mistakes this
  // worker's jobs for a dead worker's.
  heartbeat = new Heartbeat(rt, {
    workerId,
    concurrency,
    functions,
    intervalMs: heartbeatIntervalMs,
    rescueAfterMs,
    logger,
    onRescue: (r) => metrics.recordRescue(r),
  });
  try {
    await heartbeat.start();
    await loop.start();
  } catch (err) {
    removeSignalHandlers();
    await loop.stop(0);
    await heartbeat.stop();
    await metrics.close();
    throw err;
  }
  logger.info(
    { workerId, host: hostname(), pid: process.pid, concurrency, functions },
    `worker ${workerId} started: ${functions.join(', ')} (concurrency ${concurrency})`,
  );

  const retention =
    options.retention === false
      ? undefined
      : new Retention(rt, options.retention ?? {}, logger);
  retention?.start();

  let finished: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  let stopping: Promise<void> | null = null;
  stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ workerId }, 'worker stopping: finishing running attempts');
      stopped = true;
      await retention?.stop();
      await loop.stop(gracePeriodMs);
      await recorder.flush();
      // Only now: a row removed while attempts still ran would let a rescuer
      // take them.
      await heartbeat?.stop();
      await metrics.close();
      removeSignalHandlers();
      logger.info({ workerId }, 'worker stopped');
    })().finally(finished);
    return stopping;
  };
  if (signalled) void stop();

  return { id: workerId, stop: () => stop(), done, metricsPort };
}
