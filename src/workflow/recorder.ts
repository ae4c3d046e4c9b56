/**
 * Records what workflow runs do (finished steps, retries, sleeps, waits,
 * children, suspensions) in group commits, as the attempt recorder does for
 * outcomes: ops handed over while a write is in flight go together in the
 * next one, so many runs' steps cost one statement (record_workflow, in
 * migrations/0013).
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { retryWhileUnreachable } from '../core/backoff.js';
import { isConnectionError } from '../core/errors.js';
import { AttemptNotifier } from '../record/attempt-notifier.js';
import type { Queries } from '../sql/queries.js';

export type StepKind = 'step' | 'tx' | 'sleep' | 'wait' | 'call' | 'now' | 'random' | 'patch';
export type StepStatus = 'waiting' | 'retrying' | 'succeeded' | 'failed' | 'cancelled';

interface OpBase {
  call_id: string;
  /** Set on a run's first op when the call has no version yet. */
  version?: string;
}

export type StepOp = OpBase &
  (
    | {
        op: 'put';
        seq: number;
        name: string;
        kind: StepKind;
        status: 'succeeded' | 'failed';
        attempts: number;
        output: unknown;
        error: string | null;
        started_ms: number;
      }
    | {
        op: 'fail';
        seq: number;
        name: string;
        kind: StepKind;
        attempts: number;
        error: string;
        policy: string;
        started_ms: number;
      }
    | { op: 'sleep'; seq: number; name: string; wake_ms: number }
    | { op: 'wait'; seq: number; name: string; key: string; wake_ms: number | null }
    | { op: 'call'; seq: number; name: string; fn: string; input: unknown; options: unknown }
    | {
        op: 'suspend';
        job_id: string;
        attempt: number;
        started_ms: number;
        duration_ms: number;
        blocked: number[];
        need_all: boolean;
        /** Every blocked step is one ctx.any's: its first success wakes the call. */
        need_any: boolean;
        reason: string;
      }
  );

/** What record_workflow says about an op; a `put` that went as sent gets `recorded` alone. */
export interface OpResult {
  status: StepStatus | 'pending' | 'cancelled' | null;
  output: unknown;
  error: string | null;
  wake_at: Date | null;
  child_call_id: string | null;
  attempts: number | null;
  /** False when the row was there already (another run of the call), or the attempt was recorded. */
  recorded: boolean;
}

interface Pending {
  op: StepOp;
  resolve: (r: OpResult) => void;
  reject: (err: unknown) => void;
}

interface Row extends Omit<OpResult, 'wake_at'> {
  i: number;
  wake_at: Date | null;
}

const AS_SENT: OpResult = {
  status: null,
  output: undefined,
  error: null,
  wake_at: null,
  child_call_id: null,
  attempts: null,
  recorded: true,
};

export class StepRecorder {
  readonly #pool: pg.Pool;
  readonly #queries: Queries;
  readonly #logger: Logger;
  readonly #workerId: string;
  readonly #maxBatch: number;
  readonly #notifier: AttemptNotifier;
  #queue: Pending[] = [];
  #running: Promise<void> | null = null;

  constructor(
    pool: pg.Pool,
    queries: Queries,
    logger: Logger,
    workerId: string,
    maxBatch = 500,
    notifyEveryMs = 250,
  ) {
    this.#pool = pool;
    this.#queries = queries;
    this.#logger = logger;
    this.#workerId = workerId;
    this.#maxBatch = maxBatch;
    this.#notifier = new AttemptNotifier(pool, queries, logger, notifyEveryMs, () => this.#running);
  }

  /** Resolves once the op is committed. */
  record(op: StepOp): Promise<OpResult> {
    return new Promise<OpResult>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject });
      this.#running ??= this.#drain().finally(() => {
        this.#running = null;
      });
    });
  }

  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      try {
        settle(batch, await this.#write(batch.map((p) => p.op)));
      } catch (err) {
        if (batch.length > 1 && !isConnectionError(err)) {
          // One bad op (or a deadlock with another group) must not sink the others.
          for (const p of batch) {
            try {
              settle([p], await this.#write([p.op]));
            } catch (one) {
              p.reject(one);
            }
          }
        } else {
          for (const p of batch) p.reject(err);
        }
      }
    }
  }

  async #write(ops: StepOp[]): Promise<Row[]> {
    const numbered = ops.map((op, i) => ({ ...op, i }));
    // A suspension records an attempt, which the dashboard's live tail hears of.
    const notify = ops.some((op) => op.op === 'suspend') && this.#notifier.now();
    return retryWhileUnreachable(
      async () =>
        (
          await this.#pool.query<Row>({
            ...(notify ? this.#queries.recordWorkflowNotify : this.#queries.recordWorkflow),
            values: [this.#workerId, JSON.stringify(numbered)],
          })
        ).rows,
      Date.now() + 60_000,
      (err, retryInMs) =>
        this.#logger.warn(
          { err: err.message, retryInMs, ops: ops.length },
          'database unreachable while recording workflow steps; retrying',
        ),
    );
  }
}

function settle(batch: Pending[], rows: Row[]): void {
  const byIndex = new Map(rows.map((r) => [r.i, r]));
  batch.forEach((p, i) => {
    const r = byIndex.get(i);
    if (r) {
      p.resolve({
        status: r.status,
        output: r.output,
        error: r.error,
        wake_at: r.wake_at,
        child_call_id: r.child_call_id === null ? null : String(r.child_call_id),
        attempts: r.attempts,
        recorded: r.recorded,
      });
    } else if (p.op.op === 'put') {
      p.resolve(AS_SENT);
    } else {
      p.reject(new Error(`no result recorded for workflow op ${p.op.op} of call ${p.op.call_id}`));
    }
  });
}
