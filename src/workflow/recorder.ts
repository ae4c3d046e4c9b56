/**
 * Records what workflow runs do (finished steps, retries, sleeps, waits,
 * children, suspensions) in group commits (group-commit.ts), as the attempt
 * recorder records outcomes: many runs' steps cost one statement
 * (functions/record_workflow.sql).
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { retryWhileUnreachable } from '../core/backoff.js';
import { AttemptNotifier } from '../record/attempt-notifier.js';
import { GroupCommit } from '../record/group-commit.js';
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
  readonly #notifier: AttemptNotifier;
  readonly #groups: GroupCommit<StepOp, OpResult>;

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
    // One bad op (or a deadlock with another group) fails alone.
    this.#groups = new GroupCommit({
      maxBatch,
      write: async (ops) => settle(ops, await this.#write(ops)),
    });
    this.#notifier = new AttemptNotifier(pool, queries, logger, notifyEveryMs, () =>
      this.#groups.inFlight(),
    );
  }

  /** Resolves once the op is committed. */
  record(op: StepOp): Promise<OpResult> {
    return this.#groups.add(op);
  }

  flush(): Promise<void> {
    return this.#groups.flush();
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

function settle(ops: StepOp[], rows: Row[]): (OpResult | Error)[] {
  const byIndex = new Map(rows.map((r) => [r.i, r]));
  return ops.map((op, i) => {
    const r = byIndex.get(i);
    if (r) {
      return {
        status: r.status,
        output: r.output,
        error: r.error,
        wake_at: r.wake_at,
        child_call_id: r.child_call_id === null ? null : String(r.child_call_id),
        attempts: r.attempts,
        recorded: r.recorded,
      };
    }
    if (op.op === 'put') return AS_SENT;
    return new Error(`no result recorded for workflow op ${op.op} of call ${op.call_id}`);
  });
}
