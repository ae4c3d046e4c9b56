/**
 * Heartbeats and rescue. Each worker keeps a row in `workers` fresh; on the
 * same timer it gives back the jobs of workers whose heartbeat is older than
 * the rescue threshold (graphile-worker alone would leave them locked for 4
 * hours).
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Dispatch } from '../client.js';
import { isConnectionError } from '../core/errors.js';
import { opsQueries } from '../dispatch/bulk.js';

export interface HeartbeatOptions {
  workerId: string;
  concurrency: number;
  functions: string[];
  intervalMs: number;
  rescueAfterMs: number;
  logger: Logger;
  /** Called after each rescue that found lost workers. */
  onRescue?: (rescue: { workers: number; jobs: number }) => void;
}

interface LostWorker {
  worker_id: string;
  host: string | null;
  pid: number | null;
  heartbeat_at: Date | null;
  jobs: number;
}

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;

export class Heartbeat {
  readonly #dispatch: Dispatch;
  readonly #o: HeartbeatOptions;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | null = null;
  #stopped = false;
  /** Since when every heartbeat has succeeded; null while the database is unreachable. */
  #healthySince: number | null = null;
  #lastOkAt = 0;
  #registered = false;
  /** What has failed since the last success (heartbeat, rescue): logged once at warn. */
  readonly #failing = new Set<string>();

  constructor(dispatch: Dispatch, options: HeartbeatOptions) {
    this.#dispatch = dispatch;
    this.#o = options;
  }

  /** Registers the worker (a failure is logged, not thrown) and starts the timer. */
  async start(): Promise<void> {
    this.#tick = this.#beat();
    await this.#tick;
    this.#schedule();
  }

  /** Whether the last heartbeat succeeded recently enough for others to consider us alive. */
  get healthy(): boolean {
    return Date.now() - this.#lastOkAt < Math.max(this.#o.intervalMs * 3, 1_000);
  }

  /** Stops the timer and removes the worker's row (best effort: a dead row is rescued anyway). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    await this.#dispatch.pool
      .query({ ...opsQueries(this.#dispatch).unregister, values: [this.#o.workerId] })
      .catch((err: unknown) =>
        this.#o.logger.warn({ err: (err as Error).message }, 'could not unregister the worker'),
      );
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.#beat().finally(() => {
        this.#tick = null;
        this.#schedule();
      });
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    const q = opsQueries(this.#dispatch);
    const o = this.#o;
    try {
      const { rows } = await this.#dispatch.pool.query<{ existed: boolean }>({
        ...q.heartbeat,
        values: [o.workerId, hostname(), process.pid, o.concurrency, o.functions, VERSION],
      });
      if (this.#healthySince === null && this.#lastOkAt > 0) {
        o.logger.info('heartbeat: database reachable again');
      }
      this.#healthySince ??= Date.now();
      this.#lastOkAt = Date.now();
      this.#failing.delete('heartbeat');
      if (this.#registered && rows[0]?.existed === false) {
        o.logger.warn(
          { workerId: o.workerId },
          'this worker was presumed dead (missed heartbeats) and re-registered; calls it held may run twice',
        );
      }
      this.#registered = true;
    } catch (err) {
      this.#healthySince = null;
      this.#logFailure('heartbeat', err);
      return;
    }
    // Judge others only after being reachable ourselves for a whole
    // threshold: after an outage every heartbeat is stale, and the first
    // worker back must not take the others' calls.
    if (Date.now() - (this.#healthySince ?? Date.now()) < o.rescueAfterMs) return;
    await this.#rescue();
  }

  async #rescue(): Promise<void> {
    const o = this.#o;
    try {
      const { rows } = await this.#dispatch.pool.query<LostWorker>({
        ...opsQueries(this.#dispatch).rescue,
        values: [o.rescueAfterMs / 1000, o.workerId],
      });
      this.#failing.delete('rescue');
      if (rows.length === 0) return;
      let jobs = 0;
      for (const w of rows) {
        jobs += w.jobs;
        const seen = w.heartbeat_at
          ? `last heartbeat ${w.heartbeat_at.toISOString()}`
          : 'never registered';
        o.logger.warn(
          { lostWorker: w.worker_id, host: w.host, pid: w.pid, jobs: w.jobs },
          `rescued worker ${w.worker_id} (${w.host ?? '?'} pid ${w.pid ?? '?'}, ${seen}): ${w.jobs} job(s) released to run again`,
        );
      }
      o.onRescue?.({ workers: rows.length, jobs });
    } catch (err) {
      this.#logFailure('rescue', err);
    }
  }

  #logFailure(what: string, err: unknown): void {
    if (isConnectionError(err)) {
      // Once per outage at warn; the retries every interval only at debug.
      const level = this.#failing.has(what) ? 'debug' : 'warn';
      this.#failing.add(what);
      this.#o.logger[level](
        { err: (err as Error).message },
        `${what}: database unreachable; will try again in ${this.#o.intervalMs} ms`,
      );
    } else {
      this.#o.logger.error({ err }, `${what} failed; will try again in ${this.#o.intervalMs} ms`);
    }
  }
}
