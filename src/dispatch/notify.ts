/**
 * The `notify` option each dispatch passes to SQL. A transaction that
 * notifies holds a database-wide lock from just before its commit until the
 * commit is flushed, so concurrent dispatching transactions commit one at a
 * time; coalescing keeps one notification per interval from this instance,
 * and the workers claim again that long after each.
 */
import { DispatchError } from '../core/errors.js';

export class NotifyLimiter {
  readonly #intervalMs: number;
  readonly #never: boolean;
  #lastAt = Number.NEGATIVE_INFINITY;

  /** `intervalMs` 0: every dispatch notifies; `never`: none does (poll-only). */
  constructor(intervalMs: number, never: boolean) {
    if (!(Number.isFinite(intervalMs) && intervalMs >= 0 && intervalMs <= 3_600_000)) {
      throw new DispatchError('INVALID_CONFIG', 'notifyIntervalMs must be between 0 and 3600000');
    }
    this.#intervalMs = Math.round(intervalMs);
    this.#never = never;
  }

  /** The call options with this dispatch's `notify` added (absent: notify as graphile-worker does). */
  apply(sql: Record<string, unknown>): Record<string, unknown> {
    if (this.#never) return { ...sql, notify: false };
    if (this.#intervalMs === 0) return sql;
    const now = Date.now();
    if (now - this.#lastAt < this.#intervalMs) return { ...sql, notify: false };
    this.#lastAt = now;
    return { ...sql, notify: this.#intervalMs };
  }
}
