/**
 * Retention: workers delete finished calls older than a configured age, a
 * small batch per statement with a pause between batches, so pruning never
 * holds a long lock or starves the attempts being recorded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Dispatch } from '../client.js';
import { isConnectionError } from '../core/errors.js';
import { opsQueries } from '../dispatch/bulk.js';

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

export class Retention {
  readonly #dispatch: Dispatch;
  readonly #logger: Logger;
  readonly #o: Required<RetentionOptions>;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | null = null;
  #stopped = false;

  constructor(dispatch: Dispatch, options: RetentionOptions, logger: Logger) {
    this.#dispatch = dispatch;
    this.#logger = logger;
    this.#o = { ...RETENTION_DEFAULTS, ...options };
  }

  /** Starts the timer; the first round runs after a random part of the interval, so a fleet started at once does not prune in step. */
  start(): void {
    this.#schedule(Math.random() * Math.min(this.#o.intervalMs, 60_000));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
  }

  /** One round: batches until one comes back short. Returns the calls deleted. */
  async runOnce(): Promise<number> {
    const q = opsQueries(this.#dispatch);
    let deleted = 0;
    while (!this.#stopped) {
      const { rows } = await this.#dispatch.pool.query<{ deleted: number }>({
        ...q.prune,
        values: [this.#o.olderThanMs / 1000, this.#o.batchSize],
      });
      const n = rows[0]?.deleted ?? 0;
      deleted += n;
      if (n < this.#o.batchSize) break;
      await sleep(BATCH_PAUSE_MS);
    }
    return deleted;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#round = this.#safeRound().finally(() => {
        this.#round = null;
        this.#schedule(this.#o.intervalMs);
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #safeRound(): Promise<void> {
    const started = Date.now();
    try {
      const deleted = await this.runOnce();
      if (deleted > 0) {
        this.#logger.info(
          { deleted, durationMs: Date.now() - started },
          `retention: pruned ${deleted} finished call(s)`,
        );
      }
    } catch (err) {
      if (isConnectionError(err)) {
        this.#logger.warn(
          { err: (err as Error).message },
          'retention: database unreachable; will try again next round',
        );
      } else {
        this.#logger.error({ err }, 'retention failed; will try again next round');
      }
    }
  }
}
