/**
 * When a recorder's group tells the dashboard's live tail of new attempts:
 * the notification rides on a group's own statement at most once every
 * `everyMs`; groups in between stay silent, and if none follows, a lone
 * notification (notify_attempts) goes out when the interval ends, once the
 * writes in flight have committed, so every attempt is announced within it.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Queries } from '../sql/queries.js';

export class AttemptNotifier {
  readonly #pool: pg.Pool;
  readonly #queries: Queries;
  readonly #logger: Logger;
  readonly #everyMs: number;
  /** The recorder's writes in flight, if any. */
  readonly #inFlight: () => Promise<void> | null;
  #notifiedAt = 0;
  /** Attempts were recorded since the last notification. */
  #unannounced = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    pool: pg.Pool,
    queries: Queries,
    logger: Logger,
    everyMs: number,
    inFlight: () => Promise<void> | null,
  ) {
    this.#pool = pool;
    this.#queries = queries;
    this.#logger = logger;
    this.#everyMs = everyMs;
    this.#inFlight = inFlight;
  }

  /** Whether the group about to be written carries the notification; if not, one follows within the interval. */
  now(): boolean {
    if (this.#everyMs <= 0) return false;
    const now = Date.now();
    if (now - this.#notifiedAt >= this.#everyMs) {
      this.#notifiedAt = now;
      this.#unannounced = false;
      return true;
    }
    this.#unannounced = true;
    this.#timer ??= setTimeout(() => this.#late(), this.#everyMs - (now - this.#notifiedAt));
    this.#timer.unref();
    return false;
  }

  /** The interval ended with attempts unannounced: once the writes in flight commit, tell on its own. */
  #late(): void {
    this.#timer = undefined;
    if (!this.#unannounced) return;
    const running = this.#inFlight();
    if (running) {
      // A group still to come carries it, or this runs again once they are written.
      const again = () => this.#late();
      void running.then(again, again);
      return;
    }
    this.#unannounced = false;
    this.#notifiedAt = Date.now();
    this.#pool.query(this.#queries.notifyAttempts).catch((err: unknown) => {
      // Only the live tail's promptness is lost: its poll finds the attempts.
      this.#logger.debug({ err: (err as Error).message }, 'could not notify the live tail');
    });
  }
}
