/**
 * The stats rollup: every interval, one worker at a time (an advisory lock
 * in rollup_attempts) adds the attempts recorded since the last round to
 * `attempt_rollups`, per minute, function and endpoint, in batches read by
 * id past a watermark. The dashboard's stats read the rollup, never a scan
 * of attempts; recording an attempt does no extra work for it.
 */
import type { Logger } from 'pino';
import { runOne, type Runtime } from '../sql/runtime.js';
import { PeriodicService } from './service.js';

export interface RollupOptions {
  /** How often to roll up, in ms. (Default: 5000) */
  intervalMs?: number;
  /** Attempts read per statement. (Default: 20000) */
  batchSize?: number;
}

export const ROLLUP_DEFAULTS = { intervalMs: 5000, batchSize: 20_000 } as const;

/**
 * Most batches in one round: a backlog is worked off over several rounds,
 * with a pause after each full batch as long as the batch took, so catching
 * up on a long history (a database that had attempts before the rollup
 * existed) takes at most about half of one Postgres backend's time.
 */
const MAX_BATCHES = 50;

export class StatsRollup extends PeriodicService {
  readonly #rt: Runtime;
  readonly #batchSize: number;

  constructor(rt: Runtime, options: RollupOptions, logger: Logger) {
    const o = { ...ROLLUP_DEFAULTS, ...options };
    super(logger, o.intervalMs);
    this.#rt = rt;
    this.#batchSize = o.batchSize;
  }

  /** One statement: the attempts it added (0 when another worker holds the rollup or none are final yet). */
  async runOnce(): Promise<number> {
    const row = await runOne<{ added: number }>(this.#rt, this.#rt.queries.rollupAttempts, [
      this.#batchSize,
    ]);
    return row.added;
  }

  protected async round(): Promise<void> {
    try {
      let total = 0;
      for (let i = 0; i < MAX_BATCHES && !this.stopped; i++) {
        const started = performance.now();
        const added = await this.runOnce();
        total += added;
        if (added < this.#batchSize) break;
        await this.pause(performance.now() - started);
      }
      this.outage.ok('stats rollup');
      if (total > 0) this.logger.debug({ added: total }, 'stats rollup added attempts');
    } catch (err) {
      this.outage.failed('stats rollup', err, 'will try again next round');
    }
  }
}
