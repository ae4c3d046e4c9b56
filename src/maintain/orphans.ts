/**
 * Gives back jobs locked to this worker that it does not hold (a claim whose
 * reply was lost, a job whose failure could not be recorded), so they run
 * again instead of waiting for graphile-worker's 4-hour lock expiry.
 */
import type { Logger } from 'pino';
import type { Runtime } from '../sql/runtime.js';
import { PeriodicService } from './service.js';

export interface OrphanCheckOptions {
  workerId: string;
  /** Ids of the jobs the worker holds now. */
  held: () => string[];
  /** Called after jobs were given back: claim again. */
  onUnlocked: () => void;
  /** How often to look, in ms; a job locked for less than this is left alone. (Default: 60000) */
  intervalMs?: number;
  logger: Logger;
}

export class OrphanCheck extends PeriodicService {
  readonly #rt: Runtime;
  readonly #options: OrphanCheckOptions;

  constructor(rt: Runtime, options: OrphanCheckOptions) {
    super(options.logger, options.intervalMs ?? 60_000);
    this.#rt = rt;
    this.#options = options;
  }

  protected async round(): Promise<void> {
    try {
      const { rows } = await this.#rt.pool.query<{ unlocked: number }>({
        ...this.#rt.queries.unlockOrphanedJobs,
        values: [this.#options.workerId, this.#options.held(), this.intervalMs],
      });
      const n = rows[0]?.unlocked ?? 0;
      if (n > 0) {
        this.logger.warn(
          { jobs: n },
          `gave back ${n} job(s) locked to this worker but not running`,
        );
        this.#options.onUnlocked();
      }
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'orphaned-job check failed');
    }
  }
}
