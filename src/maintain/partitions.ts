/**
 * Daily partitions of the history: every worker looks each round, and the
 * one that wins the advisory lock in Postgres creates the days missing up to
 * `daysAhead` ahead. A missing partition for today or tomorrow is a health
 * error (logged, and in `/healthz` and `/metrics`), never a failed dispatch:
 * new calls then go into the newest partition there is.
 */
import type { Logger } from 'pino';
import { type Runtime, runOne } from '../sql/runtime.js';
import { PeriodicService } from './service.js';

export interface PartitionOptions {
  /** Days of partitions kept ready beyond today. (Default: 7) */
  daysAhead?: number;
  /** How often to look, in ms. (Default: 600000, 10 minutes) */
  intervalMs?: number;
}

export const PARTITION_DEFAULTS = { daysAhead: 7, intervalMs: 600_000 } as const;

/** What `partition_health()` reports; days are days since 1970-01-01 UTC. */
export interface PartitionHealth {
  today: number;
  /** The newest day with partitions, or null before the first are made. */
  newest: number | null;
  /** `newest - today`: negative when the maintenance is behind. */
  days_ahead: number | null;
  /** Today's or tomorrow's partitions are missing. */
  missing: boolean;
  oldest: number | null;
  /** Days with partitions. */
  days: number;
}

/** The partitions' state, read from Postgres. */
export function partitionHealth(rt: Runtime): Promise<PartitionHealth> {
  return runOne<PartitionHealth>(rt, rt.queries.partitionHealth, []);
}

/** Creates the partitions missing up to `daysAhead` days ahead; null when another worker holds the lock. */
export async function createPartitions(rt: Runtime, daysAhead: number): Promise<number | null> {
  const row = await runOne<{ created: number | null }>(rt, rt.queries.partitionsCreate, [
    daysAhead,
  ]);
  return row.created;
}

export class PartitionMaintenance extends PeriodicService {
  readonly #rt: Runtime;
  readonly #daysAhead: number;
  #health: PartitionHealth | undefined;

  constructor(rt: Runtime, options: PartitionOptions, logger: Logger) {
    const o = { ...PARTITION_DEFAULTS, ...options };
    super(logger, o.intervalMs);
    this.#rt = rt;
    this.#daysAhead = o.daysAhead;
  }

  /** The state seen by the last round (undefined before the first). */
  get health(): PartitionHealth | undefined {
    return this.#health;
  }

  protected async round(): Promise<void> {
    try {
      let h = await partitionHealth(this.#rt);
      if (h.days_ahead === null || h.days_ahead < this.#daysAhead) {
        const created = await createPartitions(this.#rt, this.#daysAhead);
        if (created) {
          this.logger.info({ created }, `partitions: created ${created} day(s) of partitions`);
          h = await partitionHealth(this.#rt);
        }
      }
      const was = this.#health?.missing;
      this.#health = h;
      this.outage.ok('partition maintenance');
      if (h.missing && was !== true) {
        this.logger.error(
          { newest: h.newest, today: h.today },
          'partitions: today or tomorrow has no partition; new calls go into the newest partition, and its drop is late',
        );
      } else if (!h.missing && was === true) {
        this.logger.info('partitions: today and tomorrow have partitions again');
      }
    } catch (err) {
      this.outage.failed('partition maintenance', err, 'will try again next round');
    }
  }
}
