/**
 * End-to-end delivery: N calls enqueued in batches while no worker runs, then
 * worker processes drain them into the receiver. The clock runs from the
 * first delivery to the moment the last job is gone from the queue, which for
 * pgdispatch means every attempt and call status is committed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  type Ctx,
  receiverStats,
  SYSTEM_LABEL,
  type System,
  startWorkers,
  stopAll,
} from '../context.js';
import { CpuMeter, type CpuUse, findPostmaster } from '../cpu.js';
import { now } from '../lib.js';
import { graphileEnqueuer, pgdispatchEnqueuer } from './enqueue.js';

export interface HistorySize {
  bytesPerCall: number;
  totalBytes: number;
  deliveredCalls: number;
  tables: Record<string, { table: number; indexes: number }>;
}

export interface E2eResult {
  system: System;
  processes: number;
  /** Attempts at once per worker process. */
  concurrency: number;
  round: number;
  calls: number;
  enqueueMs: number;
  /** First delivery to the last job completed (for pgdispatch: recorded). */
  drainMs: number;
  /** First delivery to last delivery. */
  deliveryMs: number;
  callsPerSec: number;
  received: number;
  check: string;
  history?: HistorySize;
  /** CPU per delivered call, in ms, over the drain (Linux, embedded Postgres). */
  cpuPerCall?: { workers: number; postgres: number; receiver: number; other: number };
  cpu?: CpuUse & { calls: number };
}

const STALL_MS = 60_000;

export async function runE2e(
  ctx: Ctx,
  system: System,
  processes: number,
  round: number,
  concurrency = ctx.config.concurrency,
): Promise<E2eResult> {
  const { calls, batchSize, rounds } = ctx.config;
  const at = ctx.config.concurrencies.length > 1 ? `, concurrency ${concurrency}` : '';
  const label = `e2e ${SYSTEM_LABEL[system]} ×${processes}${at}${rounds > 1 ? `, round ${round}` : ''}`;
  ctx.progress.start(label);
  const db = await ctx.dbs.fresh(`e2e_${system}_${processes}_${concurrency}_${round}`);
  const sql = new pg.Client({ connectionString: db.url });
  sql.on('error', () => undefined);
  await sql.connect();
  try {
    const enqueuer =
      system === 'pgdispatch' || system === 'pgdispatch-webhook'
        ? await pgdispatchEnqueuer(db.url, ctx.receiverUrl, system === 'pgdispatch-webhook')
        : await graphileEnqueuer(db.url, ctx.receiverUrl);
    const e0 = now();
    for (let from = 0; from < calls; from += batchSize) {
      await enqueuer.enqueue(from, Math.min(batchSize, calls - from));
      ctx.progress.update(Math.min(from + batchSize, calls), calls, 'enqueued');
    }
    const enqueueMs = now() - e0;
    await enqueuer.close();
    // Statistics that describe the backlog, as autovacuum would give a queue
    // after a burst: without them graphile-worker's fetch takes a plan that
    // costs Postgres 2-5 times as much per job (pgdispatch's claim forces its
    // index scan either way). The template turns autovacuum off for the
    // queue and history tables, so neither side's plan flips mid-run.
    if (ctx.config.stats === 'fresh') await sql.query('analyze');
    // Flush the enqueue's dirty pages now, not during the drain (needs superuser or pg_checkpoint).
    await sql.query('checkpoint').catch(() => undefined);

    await receiverStats(ctx, true);
    const workers = startWorkers(
      ctx,
      system,
      processes,
      db.url,
      `e2e-c${concurrency}-r${round}`,
      String(concurrency),
    );
    const meter = new CpuMeter(
      findPostmaster(Number(new URL(ctx.dbs.serverUrl).port)),
      ctx.receiver.proc.pid,
      () => workers.flatMap((w) => (w.proc.pid ? [w.proc.pid] : [])),
    );
    let meterFrom: number | undefined;
    let stats = await receiverStats(ctx);
    try {
      let lastCount = 0;
      let lastChange = now();
      while (stats.count < calls) {
        await sleep(100);
        stats = await receiverStats(ctx);
        if (meterFrom === undefined && stats.count > 0) {
          meter.start();
          meterFrom = stats.count;
        }
        if (stats.count !== lastCount) {
          lastCount = stats.count;
          lastChange = now();
        } else if (now() - lastChange > STALL_MS) {
          throw new Error(`${label}: stalled at ${stats.count}/${calls} deliveries`);
        }
        const rate =
          stats.first && stats.last ? stats.count / ((stats.last - stats.first) / 1000) : 0;
        ctx.progress.update(stats.count, calls, `delivered, ${Math.round(rate)}/s`);
      }
      // Deliveries are done; now wait for the queue to empty (outcomes recorded).
      let done = now();
      for (;;) {
        const { rows } = await sql.query<{ n: number }>(
          'select count(*)::int as n from graphile_worker._private_jobs',
        );
        done = now();
        if (rows[0]!.n === 0) break;
        if (done - stats.last! > STALL_MS)
          throw new Error(`${label}: ${rows[0]!.n} jobs never completed`);
        await sleep(5);
      }
      const cpu = meter.stop();
      stats = await receiverStats(ctx);
      const first = stats.first!;
      const drainMs = done - first;
      const result: E2eResult = {
        system,
        processes,
        concurrency,
        round,
        calls,
        enqueueMs,
        drainMs,
        deliveryMs: stats.last! - first,
        callsPerSec: calls / (drainMs / 1000),
        received: stats.count,
        check: '',
      };
      if (cpu && meterFrom !== undefined && calls > meterFrom) {
        const n = calls - meterFrom;
        result.cpu = { ...cpu, calls: n };
        result.cpuPerCall = {
          workers: cpu.workersMs / n,
          postgres: cpu.postgresMs / n,
          receiver: cpu.receiverMs / n,
          other: cpu.otherMs / n,
        };
      }
      await stopAll(workers);
      result.check = await check(sql, system, calls, stats.count);
      if (system === 'pgdispatch') result.history = await historySize(sql);
      ctx.progress.finish(
        `${Math.round(result.callsPerSec).toLocaleString('en-US')} calls/s (${result.check})`,
      );
      return result;
    } finally {
      await stopAll(workers);
    }
  } finally {
    await sql.end();
    await db.drop();
  }
}

/** Every call delivered once and, for pgdispatch, recorded as succeeded with one attempt. */
async function check(
  sql: pg.Client,
  system: System,
  calls: number,
  received: number,
): Promise<string> {
  if (system === 'gw-defaults' || system === 'gw-local') {
    if (received !== calls) throw new Error(`baseline: ${received} deliveries for ${calls} jobs`);
    return `${received} delivered`;
  }
  const { rows } = await sql.query<{ succeeded: number; attempts: number }>(
    `select (select count(*)::int from pgdispatch.calls where status = 'succeeded') as succeeded,
            (select count(*)::int from pgdispatch.attempts) as attempts`,
  );
  const r = rows[0]!;
  if (r.succeeded !== calls || received !== calls) {
    throw new Error(`${system}: ${r.succeeded} succeeded, ${received} delivered of ${calls}`);
  }
  return `${received} delivered, ${r.succeeded} succeeded, ${r.attempts} attempts recorded`;
}

async function historySize(sql: pg.Client): Promise<HistorySize> {
  const { rows } = await sql.query<{ name: string; tbl: string; idx: string }>(
    // The tables are partitioned: their size is their partitions'.
    `select t.name, sum(pg_table_size(p.relid))::bigint as tbl, sum(pg_indexes_size(p.relid))::bigint as idx
       from unnest(array['calls', 'attempts', 'call_events']) t(name)
      cross join lateral pg_partition_tree(format('pgdispatch.%I', t.name)::regclass) p
      where p.isleaf
      group by t.name`,
  );
  const delivered = await sql.query<{ n: number }>(
    `select count(*)::int as n from pgdispatch.calls where status = 'succeeded'`,
  );
  const tables: HistorySize['tables'] = {};
  let total = 0;
  for (const r of rows) {
    tables[r.name] = { table: Number(r.tbl), indexes: Number(r.idx) };
    total += Number(r.tbl) + Number(r.idx);
  }
  const n = delivered.rows[0]!.n;
  return { bytesPerCall: n > 0 ? total / n : 0, totalBytes: total, deliveredCalls: n, tables };
}
