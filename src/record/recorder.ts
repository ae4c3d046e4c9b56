/**
 * Records finished attempts. Outcomes that finish while a write is in flight
 * wait and go together in the next one (group commit), so under load one
 * statement records dozens of attempts, their calls' new statuses and their
 * next jobs, and history costs little.
 *
 * The dashboard's live tail learns of new attempts from a notification that
 * rides on a group's own statement, at most once every `notifyEveryMs`
 * (attempt-notifier.ts).
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Queries } from '../sql/queries.js';
import { retryWhileUnreachable } from '../core/backoff.js';
import { isConnectionError } from '../core/errors.js';
import { type AttemptStatus, type CallStatus, isRetryable } from '../core/outcome.js';
import { AttemptNotifier } from './attempt-notifier.js';
import { GroupCommit } from './group-commit.js';
import { unrecordableOutcome } from './outcome-fields.js';

/** One finished attempt, as record_outcomes reads it (functions/record_outcomes.sql). */
export interface AttemptOutcome {
  job_id: string;
  call_id: string;
  attempt: number;
  /** Epoch milliseconds; the attempt ended `duration_ms` later. */
  started_ms: number;
  duration_ms: number;
  status: AttemptStatus;
  http_status: number | null;
  error: string | null;
  response: unknown;
  output: unknown;
  retry_after_ms: number | null;
}

export interface RecordResult {
  call_id: string;
  attempt: number;
  call_status: CallStatus | null;
  next_attempt_at: Date | null;
  /** False when this attempt had already been recorded (by a worker that took over the call). */
  recorded: boolean;
}

/**
 * A worker that runs workflows: the parents its recorded outcomes woke, of
 * the workflows it runs, come back claimed by it (as claim_jobs returns
 * jobs), to run without a claim of their own.
 */
export interface WokenParents {
  /** graphile-worker task ids of the workflows this worker runs. */
  workflowTaskIds: number[];
  /** Takes the parents' jobs, locked for this worker. */
  take: (jobs: object[]) => void;
}

export interface RecorderOptions {
  /** Most outcomes in one statement. (Default: 200) */
  maxBatch?: number;
  /** How long to keep retrying a write while the database is unreachable, in ms. (Default: 60000) */
  retryForMs?: number;
  /** Least time between two notifications to the live tail, in ms; 0 sends none. (Default: 250) */
  notifyEveryMs?: number;
}

export class Recorder {
  readonly #pool: pg.Pool;
  readonly #workerId: string;
  readonly #queries: Queries;
  readonly #logger: Logger;
  readonly #retryForMs: number;
  readonly #notifier: AttemptNotifier;
  readonly #groups: GroupCommit<AttemptOutcome, RecordResult>;
  #woken: WokenParents | undefined;

  /** Records the attempts of worker `workerId`. */
  constructor(
    pool: pg.Pool,
    queries: Queries,
    logger: Logger,
    workerId: string,
    options: RecorderOptions = {},
  ) {
    this.#pool = pool;
    this.#workerId = workerId;
    this.#queries = queries;
    this.#logger = logger;
    this.#retryForMs = options.retryForMs ?? 60_000;
    this.#groups = new GroupCommit({
      maxBatch: options.maxBatch ?? 200,
      write: async (outcomes) => settle(outcomes, await this.#write(outcomes)),
      failed: (outcome, err) => this.#writeRefused(outcome, err),
    });
    this.#notifier = new AttemptNotifier(
      pool,
      queries,
      logger,
      options.notifyEveryMs ?? 250,
      () => this.#groups.inFlight(),
    );
  }

  /** From now on, hand the woken parents of workflows this worker runs to `woken.take`. */
  takeWokenParents(woken: WokenParents): void {
    this.#woken = woken.workflowTaskIds.length > 0 ? woken : undefined;
  }

  /** Resolves once the outcome is committed. */
  record(outcome: AttemptOutcome): Promise<RecordResult> {
    return this.#groups.add(outcome);
  }

  /** Waits until every outcome handed over so far is written (or has failed). */
  flush(): Promise<void> {
    return this.#groups.flush();
  }

  /**
   * One outcome's write failed. When Postgres refused what it holds (a value
   * it cannot store), the attempt is recorded without that, saying why,
   * rather than leave its call to run again and be refused again; any other
   * error fails the outcome.
   */
  async #writeRefused(outcome: AttemptOutcome, refusal: unknown): Promise<RecordResult | Error> {
    if (!isRefusal(refusal)) return refusal instanceof Error ? refusal : new Error(String(refusal));
    const fallback = unrecordableOutcome(outcome, refusal);
    const [result] = settle([fallback], await this.#write([fallback]));
    this.#logger.error(
      { callId: fallback.call_id, attempt: fallback.attempt, err: fallback.error },
      `call ${fallback.call_id} attempt ${fallback.attempt}: outcome refused by Postgres, recorded without its output and response`,
    );
    return result!;
  }

  /**
   * One statement; retried with backoff while the database is unreachable.
   * Returns only the results a worker cannot foresee (see `settle`).
   */
  async #write(outcomes: AttemptOutcome[]): Promise<RecordResult[]> {
    const notify = this.#notifier.now();
    const woken = this.#woken;
    const query = woken
      ? {
          ...this.#queries.recordOutcomesTake,
          values: [this.#workerId, JSON.stringify(outcomes), notify, woken.workflowTaskIds],
        }
      : {
          ...(notify ? this.#queries.recordOutcomesNotify : this.#queries.recordOutcomes),
          values: [this.#workerId, JSON.stringify(outcomes)],
        };
    return retryWhileUnreachable(
      async () => {
        const { rows } = await this.#pool.query<RecordResult & { job?: object | null }>(query);
        if (!woken) return rows;
        const jobs = rows.filter((r) => r.job).map((r) => r.job!);
        if (jobs.length > 0) woken.take(jobs);
        return rows.filter((r) => !r.job);
      },
      Date.now() + this.#retryForMs,
      (err, retryInMs) =>
        this.#logger.warn(
          { err: err.message, retryInMs, outcomes: outcomes.length },
          'database unreachable while recording attempts; retrying',
        ),
    );
  }
}

/**
 * Whether a failed write was refused for what it held, so writing it again
 * would fail again: a value Postgres cannot take (SQLSTATE classes 22 data
 * exception, 23 constraint violation, 54 program limit) or one that did not
 * serialise. A deadlock, a cancelled statement or a lost connection is not.
 */
function isRefusal(err: unknown): boolean {
  if (isConnectionError(err)) return false;
  const code = (err as { code?: unknown } | null)?.code;
  // No code at all: JSON.stringify of the group threw (a BigInt, a cycle).
  if (code === undefined) return true;
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code);
}

/**
 * record_outcomes returns a row for every retryable outcome and for the
 * unexpected final ones (already recorded, call cancelled meanwhile); any
 * other final outcome was recorded and its call succeeded (ok) or failed.
 */
function settle(outcomes: AttemptOutcome[], results: RecordResult[]): (RecordResult | Error)[] {
  const byKey =
    results.length === 0 ? null : new Map(results.map((r) => [`${r.call_id}:${r.attempt}`, r]));
  return outcomes.map((o) => {
    const r = byKey?.get(`${o.call_id}:${o.attempt}`);
    if (r) return r;
    if (isRetryable(o.status)) return new Error(`no result recorded for call ${o.call_id}`);
    return {
      call_id: o.call_id,
      attempt: o.attempt,
      call_status: o.status === 'ok' ? 'succeeded' : 'failed',
      next_attempt_at: null,
      recorded: true,
    };
  });
}
