/**
 * "Warn once per outage": the first failure of a repeated database task is
 * logged at warn (at error when it is not a connection problem), the retries
 * at debug, and the recovery at info.
 */
import type { Logger } from 'pino';
import { isConnectionError } from './errors.js';

export class OutageLog {
  readonly #logger: Logger;
  /** Consecutive failures, by task. */
  readonly #failing = new Map<string, number>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Logs a failure of `what`; `next` says what happens now. Returns the consecutive failures. */
  failed(what: string, err: unknown, next: string): number {
    const n = (this.#failing.get(what) ?? 0) + 1;
    this.#failing.set(what, n);
    const message = err instanceof Error ? err.message : String(err);
    if (!isConnectionError(err)) {
      this.#logger[n === 1 ? 'error' : 'debug']({ err }, `${what} failed; ${next}`);
    } else if (n === 1) {
      this.#logger.warn({ err: message }, `${what}: database unreachable; ${next}`);
    } else {
      this.#logger.debug({ err: message }, `${what} failed again; ${next}`);
    }
    return n;
  }

  /** `what` succeeded; logs the recovery (if `recovered` is given) and returns whether it had failed. */
  ok(what: string, recovered?: string): boolean {
    const was = this.#failing.delete(what);
    if (was && recovered) this.#logger.info(recovered);
    return was;
  }
}
