/**
 * Prometheus metrics and a health endpoint, served by node:http. Counters
 * live in this process; the queue gauges come from one small query per
 * scrape, so they agree across a fleet of workers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { type Runtime, runOne } from '../sql/runtime.js';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus.js';
import { waitingCalls } from './read-model.js';

/** Attempt duration buckets, in seconds: webhooks take milliseconds to tens of seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const SCRAPE_QUERY_TIMEOUT_MS = 2_000;

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export interface Health {
  ok: boolean;
  [detail: string]: unknown;
}

export class Metrics {
  readonly #rt: Runtime;
  readonly #logger: Logger;
  readonly #attempts = new Map<string, number>();
  readonly #durations = new Map<string, Histogram>();
  #rescuedWorkers = 0;
  #rescuedJobs = 0;
  #server: Server | undefined;

  constructor(rt: Runtime, logger: Logger) {
    this.#rt = rt;
    this.#logger = logger;
  }

  recordAttempt(fn: string, outcome: string, durationMs: number): void {
    const key = `${fn}\u0000${outcome}`;
    this.#attempts.set(key, (this.#attempts.get(key) ?? 0) + 1);
    let h = this.#durations.get(fn);
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#durations.set(fn, h);
    }
    const s = durationMs / 1000;
    for (let i = 0; i < BUCKETS.length; i++) if (s <= BUCKETS[i]!) h.counts[i]!++;
    h.sum += s;
    h.count++;
  }

  recordRescue(r: { workers: number; jobs: number }): void {
    this.#rescuedWorkers += r.workers;
    this.#rescuedJobs += r.jobs;
  }

  /** Serves `/metrics` and `/healthz` on `port` (0: any free port); resolves to the port bound. */
  async listen(port: number, host: string, health: () => Health): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/metrics') {
        this.render().then(
          (text) => {
            res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
            res.end(text);
          },
          (err: unknown) => {
            this.#logger.warn({ err }, 'metrics: rendering failed');
            res.writeHead(500).end();
          },
        );
      } else if (path === '/healthz') {
        const h = health();
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify(h)}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics or /healthz\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The Prometheus text exposition. */
  async render(): Promise<string> {
    const out: string[] = [];
    out.push(
      '# HELP pgdispatch_attempts_total Attempts finished by this worker, by function and outcome.',
      '# TYPE pgdispatch_attempts_total counter',
    );
    for (const [key, n] of this.#attempts) {
      const [fn, outcome] = key.split('\u0000') as [string, string];
      out.push(`pgdispatch_attempts_total{function="${esc(fn)}",outcome="${esc(outcome)}"} ${n}`);
    }
    out.push(
      '# HELP pgdispatch_attempt_duration_seconds Duration of attempts run by this worker.',
      '# TYPE pgdispatch_attempt_duration_seconds histogram',
    );
    for (const [fn, h] of this.#durations) {
      const f = `function="${esc(fn)}"`;
      BUCKETS.forEach((b, i) => {
        out.push(`pgdispatch_attempt_duration_seconds_bucket{${f},le="${b}"} ${h.counts[i]}`);
      });
      out.push(`pgdispatch_attempt_duration_seconds_bucket{${f},le="+Inf"} ${h.count}`);
      out.push(`pgdispatch_attempt_duration_seconds_sum{${f}} ${h.sum}`);
      out.push(`pgdispatch_attempt_duration_seconds_count{${f}} ${h.count}`);
    }
    out.push(
      '# HELP pgdispatch_rescued_workers_total Lost workers this worker rescued.',
      '# TYPE pgdispatch_rescued_workers_total counter',
      `pgdispatch_rescued_workers_total ${this.#rescuedWorkers}`,
      '# HELP pgdispatch_rescued_jobs_total Jobs of lost workers this worker released.',
      '# TYPE pgdispatch_rescued_jobs_total counter',
      `pgdispatch_rescued_jobs_total ${this.#rescuedJobs}`,
    );
    const queue = await this.#queue();
    out.push(
      '# HELP pgdispatch_database_up Whether the queue gauges below could be read.',
      '# TYPE pgdispatch_database_up gauge',
      `pgdispatch_database_up ${queue ? 1 : 0}`,
    );
    if (queue) {
      out.push(
        '# HELP pgdispatch_calls_waiting Calls due now and not yet finished (all workers).',
        '# TYPE pgdispatch_calls_waiting gauge',
        `pgdispatch_calls_waiting ${queue.waiting}`,
        '# HELP pgdispatch_oldest_waiting_call_age_seconds How long the oldest due call has waited.',
        '# TYPE pgdispatch_oldest_waiting_call_age_seconds gauge',
        `pgdispatch_oldest_waiting_call_age_seconds ${queue.oldest_s}`,
      );
      const parts = await this.#partitions();
      if (parts) {
        out.push(
          '# HELP pgdispatch_partitions_missing 1 when today or tomorrow has no partition of the history (a health error).',
          '# TYPE pgdispatch_partitions_missing gauge',
          `pgdispatch_partitions_missing ${parts.missing ? 1 : 0}`,
          // No sample before the first partitions are made.
          ...(parts.days_ahead === null
            ? []
            : [
                '# HELP pgdispatch_partitions_days_ahead Days of partitions ready beyond today (negative: behind).',
                '# TYPE pgdispatch_partitions_days_ahead gauge',
                `pgdispatch_partitions_days_ahead ${parts.days_ahead}`,
              ]),
          '# HELP pgdispatch_partitions_days Days of history kept as partitions.',
          '# TYPE pgdispatch_partitions_days gauge',
          `pgdispatch_partitions_days ${parts.days}`,
        );
      }
    }
    return `${out.join('\n')}\n`;
  }

  async #partitions(): Promise<PartitionGauges | undefined> {
    try {
      return await runOne<PartitionGauges>(this.#rt, this.#rt.queries.partitionHealth, []);
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, 'metrics: cannot read partition gauges');
      return undefined;
    }
  }

  async #queue(): Promise<{ waiting: number; oldest_s: number } | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), SCRAPE_QUERY_TIMEOUT_MS);
      });
      const queue = await Promise.race([waitingCalls(this.#rt), timeout]);
      return queue;
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, 'metrics: cannot read queue gauges');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The partitions' state (as `partition_health()` reports it). */
interface PartitionGauges {
  missing: boolean;
  days_ahead: number | null;
  days: number;
}

function esc(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}
