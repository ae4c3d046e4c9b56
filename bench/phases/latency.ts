/**
 * Commit-to-start latency: with the worker idle and listening, one call at a
 * time is dispatched in its own transaction; the task reports when it
 * started (CLOCK_MONOTONIC is shared by all processes), and the latency is
 * that minus the moment COMMIT returned to the application.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type Ctx, SYSTEM_LABEL, type System, startWorkers, stopAll } from '../context.js';
import { LATENCY_FN } from '../functions.js';
import { now } from '../lib.js';
import { pgdispatchClient } from './enqueue.js';

export interface LatencyResult {
  system: System;
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

const WARMUP = 20;
/** Pause after each start so the attempt's completion is written before the next call. */
const GAP_MS = 5;

export async function runLatency(ctx: Ctx, system: System): Promise<LatencyResult> {
  const samples = ctx.config.latencySamples;
  ctx.progress.start(`commit-to-start latency, ${SYSTEM_LABEL[system]}`);
  const db = await ctx.dbs.fresh(`latency_${system}`);
  const client = new pg.Client({ connectionString: db.url });
  client.on('error', () => undefined);
  await client.connect();
  const pgdSide = system === 'pgdispatch' ? pgdispatchClient(db.url) : undefined;
  const [worker] = startWorkers(ctx, system, 1, db.url, 'latency');
  try {
    const dispatchOne = async (seq: number) => {
      if (pgdSide) {
        await pgdSide.fns.latencyFn.dispatch({ seq }, { tx: client });
      } else {
        await client.query({
          name: 'gw_add_job',
          text: 'select graphile_worker.add_job($1, $2::json)',
          values: [LATENCY_FN, JSON.stringify({ seq })],
        });
      }
    };
    const latencies: number[] = [];
    for (let seq = -WARMUP; seq < samples; seq++) {
      await client.query('begin');
      await dispatchOne(seq);
      await client.query('commit');
      const committed = now();
      // The first warm-up call also waits for the worker process to come up.
      const started = await worker!.waitFor(
        'started',
        seq === -WARMUP ? 60_000 : 10_000,
        (m) => m.seq === seq,
      );
      if (seq >= 0) {
        latencies.push(started.at - committed);
        if (seq % 10 === 0) ctx.progress.update(seq, samples, 'calls');
      }
      await sleep(GAP_MS);
    }
    latencies.sort((a, b) => a - b);
    const pick = (q: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    const result: LatencyResult = {
      system,
      samples,
      p50: pick(0.5),
      p90: pick(0.9),
      p99: pick(0.99),
      mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      min: latencies[0]!,
      max: latencies[latencies.length - 1]!,
    };
    ctx.progress.finish(
      `p50 ${result.p50.toFixed(2)} ms, p90 ${result.p90.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms`,
    );
    return result;
  } finally {
    await stopAll(worker ? [worker] : []);
    await pgdSide?.dispatch.close();
    await client.end();
    await db.drop();
  }
}
