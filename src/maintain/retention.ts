/**
 * Retention: workers drop the daily partitions whose calls all finished
 * longer ago than a configured age (no row deleted, next to no WAL), then
 * delete the finished calls of the days kept (one of their calls had not
 * finished) and of the legacy partition, a small batch per statement with a
 * pause between batches, so pruning never holds a long lock or starves the
 * attempts being recorded.
 */
import type { Logger } from 'pino';
import { type Runtime, runOne } from '../sql/runtime.js';
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
 * Drops, one transaction each, the days whose calls all finished more than
 * `olderThanMs` ago; stops at the first day kept or lock not had. Returns
 * the days dropped (days since 1970-01-01 UTC).
 */
export async function dropPartitions(
  rt: Runtime,
  olderThanMs: number,
  stopped: () => boolean = () => false,
): Promise<number[]> {
  const days: number[] = [];
  while (!stopped()) {
    const row = await runOne<{ day: number | null }>(rt, rt.queries.partitionDrop, [
      olderThanMs / 1000,
      DROP_LOCK_MS,
    ]);
    if (row.day === null) break;
    days.push(row.day);
  }
  return days;
}

/** How long a drop waits for the tables' locks before it leaves the day to the next round. */
const DROP_LOCK_MS = 500;

/** 20260314 for a day number. */
export function dayName(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
}
