/**
 * The worker's job loop over graphile-worker's jobs table. It keeps
 * `concurrency` attempts running and up to `bufferSize` more claimed jobs
 * waiting in a local buffer, so a finished attempt's slot refills without a
 * round trip and claims come in batches (each is a round trip and a commit).
 * It completes nothing itself: recording an outcome deletes its job. New jobs
 * wake it through graphile-worker's `jobs:insert` notification, a retry it
 * scheduled wakes it when due, and the poll finds the rest (other workers'
 * retries, rescued jobs).
 */
import { setMaxListeners } from 'node:events';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Queries } from '../sql/queries.js';
import { isConnectionError, reconnectDelayMs } from '../core/errors.js';
import type { Handled } from '../run/attempt.js';

export interface ClaimedJob {
  id: string;
  task_id: number;
  payload: unknown;
  priority: number;
  /** As Postgres prints it: a Date would lose the microseconds. */
  run_at: string;
}

/** Where a claim's index scan starts, in graphile-worker's (priority, run_at) order. */
interface ScanFrom {
  priority: number;
  run_at: string;
}

const FROM_THE_START: ScanFrom = { priority: -32_768, run_at: '-infinity' };

export interface JobLoopOptions {
  pool: pg.Pool;
  queries: Queries;
  logger: Logger;
  /** What the claimed jobs are locked by. */
  workerId: string;
  /** graphile-worker task ids of the functions this worker runs. */
  taskIds: number[];
  concurrency: number;
  pollIntervalMs: number;
  /**
   * Runs one job; `shutdown` aborts when the grace period of a stop is over.
   * Resolves when the handler is done, with the promise of its recording: the
   * slot is free from then on, as graphile-worker frees it before its batched
   * completion commits.
   */
  run: (job: ClaimedJob, shutdown: AbortSignal) => Promise<Handled>;
  /** Claimed jobs waiting for a slot, at most. (Default: concurrency) */
  bufferSize?: number;
  /** A job waiting in the buffer longer than this goes back to the queue, for idle workers, in ms. (Default: 10000) */
  bufferTtlMs?: number;
  /** How often to look for jobs locked to this worker that it is not running. (Default: 60000) */
  orphanCheckMs?: number;
}

interface Buffered {
  job: ClaimedJob;
  claimedAt: number;
}

const LISTEN_CHANNEL = 'jobs:insert';
const DUE_MARGIN_MS = 5;
// Outcomes may wait for their commit up to 4 × concurrency, at least this
// many: the recorder writes one group at a time, and a draining backlog must
// not stall on its commits. Holding slots until the commit cost 12 % at
// concurrency 10; a window of concurrency, 7 % at 50 (the bench, 30,000 calls).
const MIN_RECORDING_WINDOW = 50;

export class JobLoop {
  readonly #o: JobLoopOptions;
  /** Jobs whose handler runs: at most `concurrency`. */
  readonly #running = new Map<string, Promise<void>>();
  /**
   * Jobs whose outcome waits for its commit, at most #maxRecording:
   * backpressure on a slow database. What a crash can deliver twice is what
   * ran or finished without a committed outcome: at most concurrency +
   * #maxRecording jobs.
   */
  readonly #recording = new Map<string, Promise<void>>();
  #buffer: Buffered[] = [];
  readonly #bufferSize: number;
  readonly #bufferTtlMs: number;
  readonly #maxRecording: number;
  /** Until then, claim only for free slots: buffered jobs went stale, the slots turn over slowly. */
  #noBufferUntil = 0;
  /** Aborts running attempts when a stop's grace period is over; every attempt listens. */
  readonly #shutdown = new AbortController();
  #claiming: Promise<void> | null = null;
  /** A wake-up came while a claim was in flight: claim again after it. */
  #again = false;
  #wakeQueued = false;
  /** The last claim came back short: wait for a notification or the poll. */
  #drained = false;
  /** A notification or poll since the current claim began. */
  #poked = false;
  /**
   * Where the next claim's scan starts. While a backlog drains: at the last
   * job claimed, since every due job before it is taken and a job that
   * becomes due later (a retry, a released or given-back job) gets a later
   * run_at. What can land before it (a higher priority, a backdated run_at,
   * a rescued job keeping its old run_at) is found by the scan from the start
   * that every notification and poll brings.
   */
  #scanFrom: ScanFrom = FROM_THE_START;
  #stopping = false;
  #failures = 0;
  #listener: pg.PoolClient | undefined;
  #detachListener: () => void = () => {};
  #listening: Promise<void> | null = null;
  #pollTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #orphanTimer: NodeJS.Timeout | undefined;
  /** Timers for retries this worker scheduled, by 10 ms bucket of their due time. */
  readonly #dueTimers = new Map<number, NodeJS.Timeout>();

  constructor(options: JobLoopOptions) {
    this.#o = options;
    setMaxListeners(0, this.#shutdown.signal);
    this.#bufferSize = options.bufferSize ?? options.concurrency;
    this.#bufferTtlMs = options.bufferTtlMs ?? 10_000;
    this.#maxRecording = Math.max(4 * options.concurrency, MIN_RECORDING_WINDOW);
  }

  /** Listens, starts polling and claims the first batch. Throws if the database is unreachable. */
  async start(): Promise<void> {
    await this.#listen();
    this.#pollTimer = setInterval(() => {
      void this.#returnStale();
      this.#poke();
    }, this.#o.pollIntervalMs);
    const orphanCheckMs = this.#o.orphanCheckMs ?? 60_000;
    this.#orphanTimer = setInterval(() => void this.#unlockOrphans(orphanCheckMs), orphanCheckMs);
    this.#claimNow();
    await this.#claiming;
  }

  /**
   * A job becomes due at `at` (a retry this worker just scheduled): claim
   * then, rather than at the next poll, so retries keep to their policy's
   * schedule. Other workers' retries are found by the poll.
   */
  wakeAt(at: Date): void {
    if (this.#stopping) return;
    // A few ms late on purpose: `at` lost its microseconds on the way to a
    // Date, and a claim a hair early finds nothing and waits for the poll.
    const bucket = Math.ceil((at.getTime() + DUE_MARGIN_MS) / 10) * 10;
    if (this.#dueTimers.has(bucket)) return;
    const timer = setTimeout(
      () => {
        this.#dueTimers.delete(bucket);
        this.#poke();
      },
      Math.max(0, bucket - Date.now()),
    );
    timer.unref();
    this.#dueTimers.set(bucket, timer);
  }

  /**
   * Stops claiming, lets running attempts finish for `gracePeriodMs`, then
   * aborts the rest (they give their jobs back) and waits for them to settle.
   */
  async stop(gracePeriodMs: number): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#pollTimer);
    clearInterval(this.#orphanTimer);
    clearTimeout(this.#retryTimer);
    for (const timer of this.#dueTimers.values()) clearTimeout(timer);
    this.#dueTimers.clear();
    await this.#listening;
    await this.#unlisten();
    await this.#claiming;
    await this.#giveBack(this.#buffer.splice(0));
    const all = Promise.allSettled(this.#running.values());
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace over'>((resolve) => {
      timer = setTimeout(() => resolve('grace over'), gracePeriodMs);
    });
    const first = await Promise.race([all, graceOver]);
    clearTimeout(timer);
    if (first === 'grace over') {
      this.#o.logger.warn(
        { running: this.#running.size, gracePeriodMs },
        `grace period over: aborting ${this.#running.size} running attempt(s)`,
      );
      this.#shutdown.abort(new Error('worker shutting down'));
      await all;
    }
    await Promise.allSettled(this.#recording.values());
  }

  /** A notification or the poll: there may be new due jobs. */
  #poke(): void {
    this.#drained = false;
    this.#poked = true;
    this.#scanFrom = FROM_THE_START;
    // At once, not on the next turn: this is the commit-to-start latency. A
    // burst of notifications still makes one claim, and one more after it.
    this.#claimNow();
  }

  /** Claims for the free slots, once per turn of the event loop however many asked. */
  #wake(): void {
    if (this.#wakeQueued || this.#stopping) return;
    this.#wakeQueued = true;
    setImmediate(() => {
      this.#wakeQueued = false;
      this.#claimNow();
    });
  }

  #claimNow(): void {
    if (this.#stopping || this.#retryTimer) return;
    if (this.#claiming) {
      this.#again = true;
      return;
    }
    const free = this.#hasSlot() ? this.#o.concurrency - this.#running.size : 0;
    const bufferRoom = Date.now() < this.#noBufferUntil ? 0 : this.#bufferSize;
    // Claim once the buffer runs low, enough to fill the slots and the buffer.
    const limit = free + bufferRoom - this.#buffer.length;
    if (limit <= 0 || this.#buffer.length > Math.floor(bufferRoom / 4)) return;
    this.#claiming = this.#claim(limit).finally(() => {
      this.#claiming = null;
      if (this.#again) {
        this.#again = false;
        if (!this.#drained) this.#wake();
      }
    });
  }

  async #claim(limit: number): Promise<void> {
    this.#poked = false;
    const from = this.#scanFrom;
    let jobs: ClaimedJob[];
    try {
      ({ rows: jobs } = await this.#o.pool.query<ClaimedJob>({
        ...this.#o.queries.claimJobs,
        values: [this.#o.workerId, this.#o.taskIds, limit, from.priority, from.run_at],
      }));
    } catch (err) {
      this.#failed(err, 'claiming jobs');
      return;
    }
    if (this.#failures > 0) {
      this.#o.logger.info('claiming jobs again');
      this.#failures = 0;
    }
    // A notification during the claim may be for a job committed after its
    // snapshot: only a short claim with no such news means the queue is dry.
    this.#drained = jobs.length < limit && !this.#poked;
    const last = jobs.at(-1);
    if (last && !this.#poked) this.#scanFrom = { priority: last.priority, run_at: last.run_at };
    const claimedAt = Date.now();
    for (const job of jobs) this.#buffer.push({ job, claimedAt });
    this.#fill();
  }

  /** Starts buffered jobs while there are free slots. */
  #fill(): void {
    while (this.#hasSlot() && this.#buffer.length > 0) {
      const next = this.#buffer.shift();
      if (next) this.#start(next.job);
    }
  }

  #hasSlot(): boolean {
    return this.#running.size < this.#o.concurrency && this.#recording.size < this.#maxRecording;
  }

  #start(job: ClaimedJob): void {
    const handled = this.#o.run(job, this.#shutdown.signal).then(
      (h) => {
        if (!h) return;
        const recorded = h.recorded
          .catch((err: unknown) => this.#fail(job, err))
          .finally(() => {
            this.#recording.delete(job.id);
            this.#next();
          });
        this.#recording.set(job.id, recorded);
      },
      (err: unknown) => this.#fail(job, err),
    );
    this.#running.set(
      job.id,
      handled.finally(() => {
        this.#running.delete(job.id);
        this.#next();
      }),
    );
  }

  /** A slot may have freed up. */
  #next(): void {
    if (this.#stopping) return;
    this.#fill();
    if (!this.#drained) this.#wake();
  }

  /**
   * Buffered jobs that waited too long (every slot busy with slow attempts)
   * go back to the queue, where an idle worker can take them; for a while
   * this worker claims only for its free slots.
   */
  async #returnStale(): Promise<void> {
    const cutoff = Date.now() - this.#bufferTtlMs;
    if (this.#stopping || !this.#buffer[0] || this.#buffer[0].claimedAt > cutoff) return;
    const stale = this.#buffer.filter((b) => b.claimedAt <= cutoff);
    this.#buffer = this.#buffer.filter((b) => b.claimedAt > cutoff);
    this.#noBufferUntil = Date.now() + this.#bufferTtlMs;
    await this.#giveBack(stale);
  }

  /** Unlocks claimed jobs that never started, as if never claimed, and wakes other workers. */
  async #giveBack(jobs: Buffered[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      await this.#o.pool.query({
        ...this.#o.queries.returnJobs,
        values: [jobs.map((b) => b.job.id), this.#o.workerId],
      });
    } catch (err) {
      this.#o.logger.warn(
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
    this.#o.logger.error({ err, jobId: job.id }, `job ${job.id} failed: ${message}`);
    try {
      await this.#o.pool.query({
        ...this.#o.queries.failJob,
        values: [job.id, this.#o.workerId, message],
      });
    } catch (failErr) {
      this.#o.logger.warn(
        { err: (failErr as Error).message, jobId: job.id },
        `could not unlock job ${job.id}; it is given back within a minute`,
      );
    }
  }

  /** Logs a failed claim once per outage and retries with backoff. */
  #failed(err: unknown, what: string): void {
    this.#failures++;
    const delayMs = reconnectDelayMs(this.#failures - 1);
    const fields = { err: (err as Error).message, retryInMs: delayMs };
    if (this.#failures === 1) this.#o.logger.warn(fields, `${what} failed; retrying`);
    else this.#o.logger.debug(fields, `${what} failed again`);
    if (!isConnectionError(err) && this.#failures === 1) {
      this.#o.logger.error({ err }, `${what}: unexpected error`);
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#poke();
    }, delayMs);
  }

  async #listen(): Promise<void> {
    const client = await this.#o.pool.connect();
    const onNotification = () => this.#poke();
    const onError = (err: Error) => {
      detach();
      if (this.#listener !== client) return;
      this.#listener = undefined;
      client.release(err);
      if (this.#stopping) return;
      this.#o.logger.warn(
        { err: err.message },
        'lost the notification connection; polling until it is back',
      );
      this.#relisten(0);
    };
    const detach = () => {
      client.off('notification', onNotification);
      client.off('error', onError);
    };
    client.on('error', onError);
    client.on('notification', onNotification);
    try {
      await client.query(`listen "${LISTEN_CHANNEL}"`);
    } catch (err) {
      detach();
      client.release(err as Error);
      throw err;
    }
    this.#listener = client;
    this.#detachListener = detach;
  }

  #relisten(attempt: number): void {
    const delayMs = reconnectDelayMs(attempt);
    setTimeout(() => {
      if (this.#stopping) return;
      this.#listening = this.#listen().then(
        () => {
          this.#o.logger.info('listening for new jobs again');
          this.#poke();
        },
        () => this.#relisten(attempt + 1),
      );
    }, delayMs).unref();
  }

  async #unlisten(): Promise<void> {
    const client = this.#listener;
    if (!client) return;
    this.#listener = undefined;
    this.#detachListener();
    // An error event with no listener would crash the process.
    const ignore = () => {};
    client.on('error', ignore);
    try {
      await client.query(`unlisten "${LISTEN_CHANNEL}"`);
      client.off('error', ignore);
      client.release();
    } catch (err) {
      client.off('error', ignore);
      client.release(err as Error);
    }
  }

  async #unlockOrphans(settledMs: number): Promise<void> {
    try {
      const { rows } = await this.#o.pool.query<{ unlocked: number }>({
        ...this.#o.queries.unlockOrphanedJobs,
        values: [
          this.#o.workerId,
          [
            ...this.#running.keys(),
            ...this.#recording.keys(),
            ...this.#buffer.map((b) => b.job.id),
          ],
          settledMs,
        ],
      });
      const n = rows[0]?.unlocked ?? 0;
      if (n > 0) {
        this.#o.logger.warn(
          { jobs: n },
          `gave back ${n} job(s) locked to this worker but not running`,
        );
        this.#poke();
      }
    } catch (err) {
      this.#o.logger.debug({ err: (err as Error).message }, 'orphaned-job check failed');
    }
  }
}
