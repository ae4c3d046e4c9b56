/**
 * Heartbeats and rescue. Each worker keeps a row in `workers` fresh; on the
 * same timer it gives back the jobs of workers whose heartbeat is older than
 * the rescue threshold (graphile-worker alone would leave them locked for 4
 * hours).
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Runtime } from '../sql/runtime.js';
import { PeriodicService } from './service.js';

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

export class Heartbeat extends PeriodicService {
  readonly #rt: Runtime;
  readonly #options: HeartbeatOptions;
  /** Since when every heartbeat has succeeded; null while the database is unreachable. */
  #healthySince: number | null = null;
  #lastOkAt = 0;
  #registered = false;

  constructor(rt: Runtime, options: HeartbeatOptions) {
    super(options.logger, options.intervalMs);
    this.#rt = rt;
    this.#options = options;
  }

  /** Registers the worker (a failure is logged, not thrown) and starts the timer. */
  override async start(): Promise<void> {
    await this.startNow();
  }

  /** Whether the last heartbeat succeeded recently enough for others to consider us alive. */
  get healthy(): boolean {
    return Date.now() - this.#lastOkAt < Math.max(this.#options.intervalMs * 3, 1_000);
  }

  /** Stops the timer and removes the worker's row (best effort: a dead row is rescued anyway). */
  override async stop(): Promise<void> {
    await super.stop();
    await this.#rt.pool
      .query({ ...this.#rt.queries.unregister, values: [this.#options.workerId] })
      .catch((err: unknown) =>
        this.logger.warn({ err: (err as Error).message }, 'could not unregister the worker'),
      );
  }

  protected async round(): Promise<void> {
    const o = this.#options;
    const next = `will try again in ${o.intervalMs} ms`;
    try {
      const { rows } = await this.#rt.pool.query<{ existed: boolean }>({
        ...this.#rt.queries.heartbeat,
        values: [o.workerId, hostname(), process.pid, o.concurrency, o.functions, VERSION],
      });
      this.outage.ok('heartbeat', 'heartbeat: database reachable again');
      this.#healthySince ??= Date.now();
      this.#lastOkAt = Date.now();
      if (this.#registered && rows[0]?.existed === false) {
        this.logger.warn(
          { workerId: o.workerId },
          'this worker was presumed dead (missed heartbeats) and re-registered; calls it held may run twice',
        );
      }
      this.#registered = true;
    } catch (err) {
      this.#healthySince = null;
      this.outage.failed('heartbeat', err, next);
      return;
    }
    // Judge others only after being reachable ourselves for a whole
    // threshold: after an outage every heartbeat is stale, and the first
    // worker back must not take the others' calls.
    if (Date.now() - (this.#healthySince ?? Date.now()) < o.rescueAfterMs) return;
    await this.#rescue(next);
  }

  async #rescue(next: string): Promise<void> {
    const o = this.#options;
    try {
      const { rows } = await this.#rt.pool.query<LostWorker>({
        ...this.#rt.queries.rescue,
        values: [o.rescueAfterMs / 1000, o.workerId],
      });
      this.outage.ok('rescue');
      if (rows.length === 0) return;
      let jobs = 0;
      for (const w of rows) {
        jobs += w.jobs;
        const seen = w.heartbeat_at
          ? `last heartbeat ${w.heartbeat_at.toISOString()}`
          : 'never registered';
        this.logger.warn(
          { lostWorker: w.worker_id, host: w.host, pid: w.pid, jobs: w.jobs },
          `rescued worker ${w.worker_id} (${w.host ?? '?'} pid ${w.pid ?? '?'}, ${seen}): ${w.jobs} job(s) released to run again`,
        );
      }
      o.onRescue?.({ workers: rows.length, jobs });
    } catch (err) {
      this.outage.failed('rescue', err, next);
    }
  }
}
