/**
 * The worker's intake from graphile-worker's jobs table: it keeps the attempt
 * slots full from a prefetch buffer, and the buffer full from batched claims
 * (each is a round trip and a commit). It completes nothing itself: recording
 * an outcome deletes its job. New jobs wake it through the LISTEN connection,
 * a retry it scheduled through a wake timer, and the poll finds the rest
 * (other workers' retries, rescued jobs).
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Queries } from '../sql/queries.js';
import { Claimer } from './claimer.js';
import type { ClaimedJob, RunJob } from './job.js';
import { JobListener } from './listener.js';
import { PrefetchBuffer } from './prefetch.js';
import { Slots } from './slots.js';
import { WakeTimers } from './wake-timers.js';

export type { ClaimedJob } from './job.js';

export interface JobFeedOptions {
  pool: pg.Pool;
  queries: Queries;
  logger: Logger;
  /** What the claimed jobs are locked by. */
  workerId: string;
  /** graphile-worker task ids of the functions this worker runs. */
  taskIds: number[];
  /** Those of `taskIds` that are workflows: their jobs come with their steps. */
  workflowTaskIds?: number[];
  concurrency: number;
  pollIntervalMs: number;
  run: RunJob;
  /** Claimed jobs waiting for a slot, at most. (Default: concurrency) */
  bufferSize?: number;
  /** A job waiting in the buffer longer than this goes back to the queue, for idle workers, in ms. (Default: 10000) */
  bufferTtlMs?: number;
  /** LISTEN for new jobs; false polls only. (Default: true) */
  listen?: boolean;
}

export class JobFeed {
  readonly #options: JobFeedOptions;
  readonly #slots: Slots;
  readonly #buffer: PrefetchBuffer;
  readonly #claimer: Claimer;
  readonly #listener: JobListener;
  readonly #wakeTimers: WakeTimers;
  #pollTimer: NodeJS.Timeout | undefined;
  #stopping = false;

  constructor(options: JobFeedOptions) {
    this.#options = options;
    this.#slots = new Slots(options.concurrency, {
      freed: () => this.#next(),
      failed: (job, err) => this.#fail(job, err),
    });
    this.#buffer = new PrefetchBuffer(
      options.bufferSize ?? options.concurrency,
      options.bufferTtlMs ?? 10_000,
    );
    this.#claimer = new Claimer({
      pool: options.pool,
      queries: options.queries,
      logger: options.logger,
      workerId: options.workerId,
      taskIds: options.taskIds,
      ...(options.workflowTaskIds ? { workflowTaskIds: options.workflowTaskIds } : {}),
      limit: () => this.#claimLimit(),
      deliver: (jobs) => {
        this.#buffer.push(jobs);
        this.#fill();
      },
    });
    this.#listener = new JobListener(options.pool, options.logger, (windowMs) => {
      // A coalesced notification speaks for the dispatches of the next
      // `windowMs` too, which announce nothing: claim again then.
      if (windowMs > 0) this.wakeAt(new Date(Date.now() + windowMs));
      this.poke();
    });
    this.#wakeTimers = new WakeTimers(() => this.poke());
  }

  /** Listens, starts polling and claims the first batch. Throws if the database is unreachable. */
  async start(): Promise<void> {
    if (this.#options.listen !== false) await this.#listener.start();
    this.#pollTimer = setInterval(() => {
      void this.#returnStale();
      this.poke();
    }, this.#options.pollIntervalMs);
    this.#claimer.claimNow();
    await this.#claimer.settled();
  }

  /** There may be new due jobs (a notification, the poll, orphans given back). */
  poke(): void {
    this.#claimer.poke();
  }

  /** A job becomes due at `at` (a retry this worker just scheduled): claim then. */
  wakeAt(at: Date): void {
    if (this.#stopping) return;
    this.#wakeTimers.wakeAt(at);
  }

  /**
   * Jobs claimed for this worker by another statement (the recording that
   * woke their workflows): run as a claim's jobs are, or given back if the
   * worker is stopping.
   */
  take(jobs: ClaimedJob[]): void {
    if (this.#stopping) {
      void this.#giveBack(jobs);
      return;
    }
    this.#buffer.push(jobs);
    this.#fill();
  }

  /** Jobs this worker holds: running, waiting for their commit, or buffered. */
  heldJobIds(): string[] {
    return [...this.#slots.ids(), ...this.#buffer.ids()];
  }

  /**
   * Stops claiming, gives back the buffered jobs, lets running attempts
   * finish for `gracePeriodMs`, then aborts the rest (they give their jobs
   * back) and waits for them to settle.
   */
  async stop(gracePeriodMs: number): Promise<void> {
    this.#stopping = true;
    this.#claimer.stop();
    clearInterval(this.#pollTimer);
    this.#wakeTimers.clear();
    await this.#listener.stop();
    await this.#claimer.settled();
    await this.#giveBack(this.#buffer.takeAll());
    await this.#slots.stop(gracePeriodMs, this.#options.logger);
  }

  /** Enough to fill the slots and the buffer, once the buffer runs low. */
  #claimLimit(): number {
    const room = this.#buffer.room();
    if (this.#buffer.length > Math.floor(room / 4)) return 0;
    return this.#slots.free() + room - this.#buffer.length;
  }

  /** Starts buffered jobs while there are free slots. */
  #fill(): void {
    while (this.#slots.hasSlot() && this.#buffer.length > 0) {
      const job = this.#buffer.shift();
      if (job) this.#slots.start(job, this.#options.run);
    }
  }

  /** A slot may have freed up. */
  #next(): void {
    if (this.#stopping) return;
    this.#fill();
    if (!this.#claimer.drained) this.#claimer.wake();
  }

  /** Buffered jobs that waited too long go back to the queue, where an idle worker can take them. */
  async #returnStale(): Promise<void> {
    if (this.#stopping) return;
    await this.#giveBack(this.#buffer.takeStale());
  }

  /** Unlocks claimed jobs that never started, as if never claimed, and wakes other workers. */
  async #giveBack(jobs: ClaimedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      await this.#options.pool.query({
        ...this.#options.queries.returnJobs,
        values: [jobs.map((job) => job.id), this.#options.workerId],
      });
    } catch (err) {
      this.#options.logger.warn(
        { err: (err as Error).message, jobs: jobs.length },
        `could not give back ${jobs.length} claimed job(s); they are given back within a minute`,
      );
    }
  }

  /**
   * The attempt could not be recorded (or the job is not a call): unlock the
   * job with graphile-worker's backoff so it runs again. If even that fails,
   * the orphan check gives it back later.
   */
  async #fail(job: ClaimedJob, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    this.#options.logger.error({ err, jobId: job.id }, `job ${job.id} failed: ${message}`);
    try {
      await this.#options.pool.query({
        ...this.#options.queries.failJob,
        values: [job.id, this.#options.workerId, message],
      });
    } catch (failErr) {
      this.#options.logger.warn(
        { err: (failErr as Error).message, jobId: job.id },
        `could not unlock job ${job.id}; it is given back within a minute`,
      );
    }
  }
}
