/**
 * Retention: workers delete finished calls older than a configured age, a
 * small batch per statement with a pause between batches, so pruning never
 * holds a long lock or starves the attempts being recorded.
 */
import type { Logger } from 'pino';
import type { Runtime } from '../sql/runtime.js';
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

  /** One round: batches until one comes back short. Returns the calls deleted. */
  runOnce(): Promise<number> {
    return pruneFinished(this.#rt, {
      olderThanMs: this.#options.olderThanMs,
      batchSize: this.#options.batchSize,
      pauseMs: BATCH_PAUSE_MS,
      stopped: () => this.stopped,
    });
  }

  protected async round(): Promise<void> {
    const started = Date.now();
    try {
      const deleted = await this.runOnce();
      this.outage.ok('retention');
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
