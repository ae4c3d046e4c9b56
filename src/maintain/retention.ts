/**
 * Retention: workers drop the daily partitions whose calls all finished
 * longer ago than a configured age (no row deleted, next to no WAL), then
 * delete the finished calls of the days kept (one of their calls had not
 * finished) and of the legacy partition, a small batch per statement with a
 * pause between batches, so pruning never holds a long lock or starves the
 * attempts being recorded.
 */
import type { Logger } from 'pino';
import { DispatchError, fromPgError } from '../core/errors.js';
import { type HasRuntime, type Runtime, run, runOne, runtimeOf } from '../sql/runtime.js';
import { pruneFinished } from './prune.js';
import { PeriodicService } from './service.js';

export interface RetentionOptions {
  /** Finished calls older than this go, in ms. (Default: 30 days) */
  olderThanMs?: number;
  /** How often to prune, in ms. (Default: 600000, 10 minutes) */
  intervalMs?: number;
  /** Calls deleted per statement. (Default: 500) */
  batchSize?: number;
}

export const RETENTION_DEFAULTS = {
  olderThanMs: 30 * 86_400_000,
  intervalMs: 600_000,
  batchSize: 500,
} as const;

/** Pause between two batches of one round. */
const BATCH_PAUSE_MS = 50;

export class Retention extends PeriodicService {
  readonly #rt: Runtime;
  readonly #options: Required<RetentionOptions>;

  constructor(rt: Runtime, options: RetentionOptions, logger: Logger) {
    const o = { ...RETENTION_DEFAULTS, ...options };
    super(logger, o.intervalMs);
    this.#rt = rt;
    this.#options = o;
  }

  /** The first round runs after a random part of the interval, so a fleet started at once does not prune in step. */
  override start(): void {
    super.start(Math.random() * Math.min(this.#options.intervalMs, 60_000));
  }

  /**
   * One round: the days that can go, dropped one by one, then batches of the
   * rest until one comes back short. Returns the days dropped and the calls deleted.
   */
  async runOnce(): Promise<{ days: number[]; deleted: number }> {
    const days = await dropPartitions(this.#rt, this.#options.olderThanMs, () => this.stopped);
    const deleted = await pruneFinished(this.#rt, {
      olderThanMs: this.#options.olderThanMs,
      batchSize: this.#options.batchSize,
      keptOnly: true,
      pauseMs: BATCH_PAUSE_MS,
      stopped: () => this.stopped,
    });
    return { days, deleted };
  }

  protected async round(): Promise<void> {
    const started = Date.now();
    try {
      const { days, deleted } = await this.runOnce();
      this.outage.ok('retention');
      if (days.length > 0) {
        this.logger.info(
          { days: days.map(dayName), durationMs: Date.now() - started },
          `retention: dropped the partitions of ${days.length} day(s)`,
        );
      }
      if (deleted > 0) {
        this.logger.info(
          { deleted, durationMs: Date.now() - started },
          `retention: pruned ${deleted} finished call(s)`,
        );
      }
    } catch (err) {
      this.outage.failed('retention', err, 'will try again next round');
    }
  }
}

/**
 * Drops the partitions of every day whose calls all finished more than
 * `olderThanMs` ago, as the workers' retention does (no row deleted, next
 * to no WAL, no lock that stops dispatch or recording); the days kept, with
 * a call not finished or finished within the window, wait for `pruneCalls`.
 * Returns the days dropped (days since 1970-01-01 UTC), oldest first.
 *
 * ```ts
 * const days = await dropFinishedPartitions(dispatch, { olderThanMs: 30 * 86_400_000 });
 * ```
 */
export function dropFinishedPartitions(
  dispatch: HasRuntime,
  options: { olderThanMs: number },
): Promise<number[]> {
  if (!(Number.isFinite(options.olderThanMs) && options.olderThanMs >= 0)) {
    throw new DispatchError('INVALID_OPTION', 'olderThanMs must be a non-negative number');
  }
  return dropPartitions(runtimeOf(dispatch), options.olderThanMs);
}

/**
 * Drops the days whose calls all finished more than `olderThanMs` ago, one
 * at a time: `partition_retire` marks the day (a manual retry of its calls
 * is refused from then on), each of its four partitions is detached
 * concurrently, which waits for the transactions that may still see it and
 * blocks none, and `partition_retired_drop` drops the detached tables.
 * DETACH … CONCURRENTLY cannot run in a transaction, so the detaches go one
 * statement each on a connection of their own. Stops at the first day kept
 * or lock not had; a round cut short leaves its day marked, and a later one
 * finishes it. Each detach may wait `detachWaitMs` (see detachDay). Returns
 * the days dropped (days since 1970-01-01 UTC).
 */
export async function dropPartitions(
  rt: Runtime,
  olderThanMs: number,
  stopped: () => boolean = () => false,
  detachWaitMs: number = DETACH_WAIT_MS,
): Promise<number[]> {
  const days: number[] = [];
  while (!stopped()) {
    const row = await runOne<{ day: number | null }>(rt, rt.queries.partitionRetire, [
      olderThanMs / 1000,
      RETIRE_LOCK_MS,
    ]);
    if (row.day === null) break;
    await detachDay(rt, row.day, detachWaitMs);
    await run(rt, rt.queries.partitionRetiredDrop, [row.day]);
    days.push(row.day);
  }
  return days;
}

/**
 * A detach waits for the transactions that still use its partition: one
 * left open elsewhere must not hold a worker's round forever, so a detach
 * still running after `waitMs` is cancelled from another connection. (Not
 * by a session's lock_timeout: behind a pooler in transaction mode that
 * setting would stay on a server connection that other clients get next,
 * and need not be the one the detach runs on.) A detach cut short is
 * finished (FINALIZE) by the next round.
 */
async function detachDay(rt: Runtime, day: number, waitMs: number): Promise<void> {
  const parts = await run<{ parent: string; part: string; pending: boolean }>(
    rt,
    rt.queries.partitionAttached,
    [day],
  );
  if (parts.length === 0) return;
  // One connection for the detaches, so that a cancel arriving just as one
  // ends can only reach the next of them.
  const client = await rt.pool.connect();
  try {
    for (const p of parts) {
      const detach = rt.queries.partitionDetach(p.parent, p.part, p.pending);
      let cancelling: Promise<unknown> | undefined;
      const timer = setTimeout(() => {
        cancelling = rt.pool
          .query({ ...rt.queries.partitionDetachCancel, values: [detach.text, waitMs] })
          .catch(() => undefined);
      }, waitMs);
      try {
        await client.query(detach);
      } finally {
        clearTimeout(timer);
        await cancelling;
      }
    }
  } catch (err) {
    throw fromPgError(err);
  } finally {
    client.release();
  }
}

/** How long marking a day waits for a manual retry of one of its calls. */
const RETIRE_LOCK_MS = 500;
/** How long a detach waits for a lock, or for the transactions that may still see its partition. */
const DETACH_WAIT_MS = 10_000;

/** 20260314 for a day number. */
export function dayName(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
}
