/**
 * Batch dispatch rate: calls enqueued in batches from one client, no worker
 * running: pgdispatch's dispatchMany (calls + jobs, one statement per batch)
 * against graphile-worker's addJobs.
 */
import type { Ctx } from '../context.js';
import { now } from '../lib.js';
import { type Enqueuer, graphileEnqueuer, pgdispatchEnqueuer } from './enqueue.js';
import type { Side } from './txn.js';

export interface BatchResult {
  side: Side;
  calls: number;
  batchSize: number;
  ms: number;
  callsPerSec: number;
}

export async function runBatch(ctx: Ctx, side: Side, round: number): Promise<BatchResult> {
  const { batchCalls, batchSize } = ctx.config;
  ctx.progress.start(`batch dispatch, ${side}, round ${round}`);
  const db = await ctx.dbs.fresh(`batch_${side}_${round}`);
  let enqueuer: Enqueuer | undefined;
  try {
    enqueuer =
      side === 'pgdispatch'
        ? await pgdispatchEnqueuer(db.url, ctx.receiverUrl)
        : await graphileEnqueuer(db.url, ctx.receiverUrl);
    // One batch first: connection, plans, function registration.
    await enqueuer.enqueue(-batchSize, batchSize);
    const t0 = now();
    for (let from = 0; from < batchCalls; from += batchSize) {
      await enqueuer.enqueue(from, Math.min(batchSize, batchCalls - from));
      ctx.progress.update(Math.min(from + batchSize, batchCalls), batchCalls, 'calls');
    }
    const ms = now() - t0;
    const result: BatchResult = {
      side,
      calls: batchCalls,
      batchSize,
      ms,
      callsPerSec: batchCalls / (ms / 1000),
    };
    ctx.progress.finish(`${Math.round(result.callsPerSec).toLocaleString('en-US')} calls/s`);
    return result;
  } finally {
    await enqueuer?.close();
    await db.drop();
  }
}
