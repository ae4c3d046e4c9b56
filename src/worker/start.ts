/**
 * The worker, wired: the job feed claims the instance's jobs, attempts run
 * them, the recorder commits their outcomes in groups, the maintenance
 * services keep the heartbeat, rescue, orphans and retention, and a stop
 * unwinds it all in order.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { loadOpenTelemetry } from '../core/tracing.js';
import { registerFunctions } from '../dispatch/dispatch.js';
import { Heartbeat } from '../maintain/heartbeat.js';
import { OrphanCheck } from '../maintain/orphans.js';
import { FlowSweep } from '../maintain/flow-sweep.js';
import { PartitionMaintenance } from '../maintain/partitions.js';
import { Retention } from '../maintain/retention.js';
import { StatsRollup } from '../maintain/rollup.js';
import { Scheduler } from '../maintain/scheduler.js';
import { Metrics } from '../observe/metrics.js';
import { JobFeed } from '../queue/feed.js';
import type { ClaimedJob, RunJob } from '../queue/job.js';
import { Recorder } from '../record/recorder.js';
import type { Registry } from '../registry/registry.js';
import { type AttemptServices, attemptRunner } from '../run/attempt.js';
import type { Runtime } from '../sql/runtime.js';
import { WorkflowEngine } from '../workflow/attempt.js';
import { workflowOf } from '../workflow/types.js';
import { resolveWorkerOptions, type WorkerHandle, type WorkerOptions } from './options.js';
import { RejectionWatch } from './rejections.js';
import { handleSignals } from './signals.js';

export type { WorkerHandle, WorkerOptions } from './options.js';

export async function startWorker(
  rt: Runtime,
  registry: Registry,
  options: WorkerOptions = {},
): Promise<WorkerHandle> {
  const o = resolveWorkerOptions(options);
  const logger = rt.logger.child({ component: 'worker' });
  const scheduler =
    options.schedules === false ? undefined : new Scheduler(rt, logger, options.schedules ?? {});
  await registerFunctions(rt, registry, true);
  // Attempts get spans only when @opentelemetry/api is installed (and a provider registered).
  await loadOpenTelemetry();

  const workerId = `worker-${randomBytes(9).toString('hex')}`;
  const functions = registry.names();
  const recorder = new Recorder(rt.pool, rt.queries, logger, workerId);
  const metrics = new Metrics(rt, logger);
  let feed: JobFeed | undefined;
  const services: AttemptServices = {
    recorder,
    logger: rt.logger,
    release: async (job) => {
      await rt.pool.query({
        ...rt.queries.releaseJobs,
        values: [
          JSON.stringify([job]),
          workerId,
          'worker shutting down before the attempt finished',
        ],
      });
    },
    snooze: async (job) => {
      await rt.pool.query({ ...rt.queries.snoozeJobs, values: [JSON.stringify([job]), workerId] });
      // Claim it again when it is due, not at the next poll.
      feed?.wakeAt(new Date(Date.now() + job.delay_ms));
    },
    flowRelease: async (callId) => {
      await rt.pool.query({ ...rt.queries.flowRelease, values: [[callId]] });
    },
    onAttempt: (fn, outcome, result) => {
      metrics.recordAttempt(fn, outcome.status, outcome.duration_ms);
      if (result.next_attempt_at) feed?.wakeAt(new Date(result.next_attempt_at));
    },
  };
  const rejections = options.handleRejections ? new RejectionWatch(logger) : undefined;
  const workflows = registry.names().some((n) => workflowOf(registry.get(n)!))
    ? new WorkflowEngine({
        pool: rt.pool,
        queries: rt.queries,
        logger,
        workerId,
        registry,
        wakeAt: (at) => feed?.wakeAt(at),
      })
    : undefined;
  const { attempts, workflowTaskIds } = await attemptsByTask(
    rt,
    registry,
    services,
    rejections,
    workflows,
  );

  // Bound before the first claim, so a taken port fails the start cleanly.
  let heartbeat: Heartbeat | undefined;
  const partitions =
    options.partitions === false
      ? undefined
      : new PartitionMaintenance(rt, options.partitions ?? {}, logger);
  let stopped = false;
  let metricsPort: number | undefined;
  if (options.metricsPort !== undefined) {
    const host = options.metricsHost ?? '0.0.0.0';
    metricsPort = await metrics.listen(options.metricsPort, host, () => ({
      ok: !stopped && heartbeat?.healthy === true && partitions?.health?.missing !== true,
      workerId,
      stopping: stopped,
      heartbeat: heartbeat?.healthy ? 'ok' : 'failing',
      ...(partitions?.health ? { partitions: partitions.health.missing ? 'missing' : 'ok' } : {}),
    }));
    logger.info({ metricsPort }, `metrics on http://${host}:${metricsPort}/metrics`);
  }

  const signals = handleSignals(logger, options.handleSignals === true);
  rejections?.watch();
  const jobs = new JobFeed({
    pool: rt.pool,
    queries: rt.queries,
    logger,
    workerId,
    taskIds: [...attempts.keys()],
    workflowTaskIds,
    concurrency: o.concurrency,
    bufferSize: o.prefetch,
    pollIntervalMs: o.pollIntervalMs,
    listen: rt.listen,
    run: (job: ClaimedJob, shutdown: AbortSignal) => {
      const attempt = attempts.get(job.task_id);
      if (!attempt) throw new Error(`no function for graphile-worker task ${job.task_id}`);
      return attempt(job, shutdown);
    },
  });
  feed = jobs;
  recorder.takeWokenParents({
    workflowTaskIds,
    take: (woken) => jobs.take(woken as ClaimedJob[]),
  });
  // Registered before the first claim, so a rescuer never mistakes this
  // worker's jobs for a dead worker's.
  heartbeat = new Heartbeat(rt, {
    workerId,
    concurrency: o.concurrency,
    functions,
    intervalMs: o.heartbeatIntervalMs,
    rescueAfterMs: o.rescueAfterMs,
    logger,
    onRescue: (r) => metrics.recordRescue(r),
  });
  const orphans = new OrphanCheck(rt, {
    workerId,
    held: () => jobs.heldJobIds(),
    onUnlocked: () => jobs.poke(),
    logger,
  });
  try {
    await heartbeat.start();
    await workflows?.start();
    await jobs.start();
  } catch (err) {
    signals.remove();
    rejections?.remove();
    await jobs.stop(0);
    await workflows?.stop();
    await heartbeat.stop();
    await metrics.close();
    throw err;
  }
  orphans.start();
  logger.info(
    { workerId, host: hostname(), pid: process.pid, concurrency: o.concurrency, functions },
    `worker ${workerId} started: ${functions.join(', ')} (concurrency ${o.concurrency})`,
  );

  partitions?.start(0);
  const retention =
    options.retention === false ? undefined : new Retention(rt, options.retention ?? {}, logger);
  retention?.start();
  scheduler?.start(0);
  const flowSweep = new FlowSweep(rt, logger);
  flowSweep.start();
  const rollup =
    options.statsRollup === false ? undefined : new StatsRollup(rt, options.statsRollup ?? {}, logger);
  rollup?.start(Math.random() * 1000);

  let finished: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ workerId }, 'worker stopping: finishing running attempts');
      stopped = true;
      await retention?.stop();
      await partitions?.stop();
      await scheduler?.stop();
      await flowSweep.stop();
      await rollup?.stop();
      await orphans.stop();
      await jobs.stop(o.gracePeriodMs);
      await workflows?.stop();
      await recorder.flush();
      // Only now: a row removed while attempts still ran would let a rescuer
      // take them.
      await heartbeat?.stop();
      await metrics.close();
      signals.remove();
      rejections?.remove();
      logger.info({ workerId }, 'worker stopped');
    })().finally(finished);
    return stopping;
  };
  signals.onStop(() => void stop());

  return { id: workerId, stop, done, metricsPort, metrics: () => metrics.render() };
}

/**
 * The attempt runner of each function, by its graphile-worker task id
 * (created if no job named it yet), and which of them are workflows.
 */
async function attemptsByTask(
  rt: Runtime,
  registry: Registry,
  services: AttemptServices,
  rejections: RejectionWatch | undefined,
  workflows: WorkflowEngine | undefined,
): Promise<{ attempts: Map<number, RunJob>; workflowTaskIds: number[] }> {
  const { rows: tasks } = await rt.pool.query<{ id: number; identifier: string }>({
    ...rt.queries.taskIds,
    values: [registry.names()],
  });
  const attempts = new Map<number, RunJob>();
  const workflowTaskIds: number[] = [];
  for (const task of tasks) {
    const fn = registry.get(task.identifier);
    if (!fn) continue;
    const def = workflowOf(fn);
    const run =
      def && workflows ? workflows.attempt(fn, def, services) : attemptRunner(fn, services);
    if (def && workflows) workflowTaskIds.push(task.id);
    attempts.set(task.id, rejections ? rejections.wrap(fn.name, run) : run);
  }
  return { attempts, workflowTaskIds };
}
