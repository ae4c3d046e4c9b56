/**
 * When to claim and from where. A notification, the poll or a due retry
 * pokes it; a freed slot wakes it (once per turn of the event loop however
 * many ask); a short claim with no news since means the queue is dry until
 * the next poke. A failed claim retries with backoff.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { reconnectDelayMs } from '../core/backoff.js';
import { OutageLog } from '../core/outage.js';
import type { Queries } from '../sql/queries.js';
import type { ClaimedJob } from './job.js';

/** Where a claim's index scan starts, in graphile-worker's (priority, run_at) order. */
interface ScanPosition {
  priority: number;
  run_at: string;
}

const QUEUE_START: ScanPosition = { priority: -32_768, run_at: '-infinity' };

export interface ClaimerOptions {
  pool: pg.Pool;
  queries: Queries;
  logger: Logger;
  /** What the claimed jobs are locked by. */
  workerId: string;
  /** graphile-worker task ids of the functions this worker runs. */
  taskIds: number[];
  /** Those of `taskIds` that are workflows: their jobs come with their steps. */
  workflowTaskIds?: number[];
  /** How many jobs to claim now; 0 or less: none. */
  limit: () => number;
  /** Takes the jobs of a claim. */
  deliver: (jobs: ClaimedJob[]) => void;
}

export class Claimer {
  readonly #options: ClaimerOptions;
  readonly #outage: OutageLog;
  #claiming: Promise<void> | null = null;
  /** A wake-up came while a claim was in flight: claim again after it. */
  #again = false;
  #wakeQueued = false;
  /** The last claim came back short: wait for a notification or the poll. */
  #drained = false;
  /** A notification or poll since the current claim began. */
  #poked = false;
  /**
   * While a backlog drains, the next scan starts at the last job claimed:
   * every due job before it is taken, and a job that becomes due later gets
   * a later run_at. What can land before it (a higher priority, a backdated
   * run_at, a rescued job) is found by the scan from the start a poke brings.
   */
  #scanFrom: ScanPosition = QUEUE_START;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: ClaimerOptions) {
    this.#options = options;
    this.#outage = new OutageLog(options.logger);
  }

  /** Whether the last claim found the queue dry. */
  get drained(): boolean {
    return this.#drained;
  }

  /** The claim in flight, if any. */
  settled(): Promise<void> {
    return this.#claiming ?? Promise.resolve();
  }

  /** There may be new due jobs anywhere in the queue: scan from its start. */
  poke(): void {
    this.#drained = false;
    this.#poked = true;
    this.#scanFrom = QUEUE_START;
    // At once, not on the next turn: this is the commit-to-start latency. A
    // burst of notifications still makes one claim, and one more after it.
    this.claimNow();
  }

  /** Claims for the free slots on the next turn of the event loop. */
  wake(): void {
    if (this.#wakeQueued || this.#stopped) return;
    this.#wakeQueued = true;
    setImmediate(() => {
      this.#wakeQueued = false;
      this.claimNow();
    });
  }

  claimNow(): void {
    if (this.#stopped || this.#retryTimer) return;
    if (this.#claiming) {
      this.#again = true;
      return;
    }
    const limit = this.#options.limit();
    if (limit <= 0) return;
    this.#claiming = this.#claim(limit).finally(() => {
      this.#claiming = null;
      if (this.#again) {
        this.#again = false;
        if (!this.#drained) this.wake();
      }
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
  }

  async #claim(limit: number): Promise<void> {
    this.#poked = false;
    const from = this.#scanFrom;
    let jobs: ClaimedJob[];
    try {
      ({ rows: jobs } = await this.#options.pool.query<ClaimedJob>({
        ...this.#options.queries.claimJobs,
        values: [
          this.#options.workerId,
          this.#options.taskIds,
          limit,
          from.priority,
          from.run_at,
          this.#options.workflowTaskIds ?? [],
        ],
      }));
    } catch (err) {
      this.#retryLater(err);
      return;
    }
    this.#outage.ok('claiming jobs', 'claiming jobs again');
    // A notification during the claim may be for a job committed after its
    // snapshot: only a short claim with no such news means the queue is dry.
    this.#drained = jobs.length < limit && !this.#poked;
    const last = jobs.at(-1);
    if (last && !this.#poked) this.#scanFrom = { priority: last.priority, run_at: last.run_at };
    this.#options.deliver(jobs);
  }

  #retryLater(err: unknown): void {
    const failures = this.#outage.failed('claiming jobs', err, 'retrying');
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = undefined;
        this.poke();
      },
      reconnectDelayMs(failures - 1),
    );
  }
}
