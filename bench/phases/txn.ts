/**
 * Dispatching inside an application transaction: begin; insert one order;
 * dispatch its webhook; commit. pgdispatch.dispatch against a bare
 * graphile_worker.add_job, from a few concurrent clients, no worker running.
 * Both sides use named (prepared) statements.
 */
import pg from 'pg';
import type { Ctx } from '../context.js';
import { POST_FN } from '../functions.js';
import { now } from '../lib.js';
import { eventBody } from '../post.js';
import { pgdispatchClient } from './enqueue.js';

export type Side = 'pgdispatch' | 'graphile-worker';

export interface TxnResult {
  side: Side;
  txns: number;
  clients: number;
  ms: number;
  txnsPerSec: number;
}

const WARMUP = 50;
const INSERT_ORDER = {
  name: 'bench_insert_order',
  text: 'insert into public.bench_orders (customer, amount) values ($1, $2) returning id',
};

export async function runTxn(ctx: Ctx, side: Side, round: number): Promise<TxnResult> {
  const { txns, txnClients } = ctx.config;
  ctx.progress.start(`transactional dispatch, ${side}, round ${round}`);
  const db = await ctx.dbs.fresh(`txn_${side}_${round}`);
  const pool = new pg.Pool({ connectionString: db.url, max: txnClients });
  // Dropping the database may end connections pool.end() has not closed yet.
  pool.on('error', () => undefined);
  const pgdSide = side === 'pgdispatch' ? pgdispatchClient(db.url) : undefined;
  try {
    const one = async (client: pg.PoolClient, seq: number) => {
      await client.query('begin');
      const { rows } = await client.query<{ id: string }>({
        ...INSERT_ORDER,
        values: [`cus_${seq % 997}`, 4200],
      });
      const input = {
        url: ctx.receiverUrl,
        body: { ...(eventBody(seq) as object), order: rows[0]!.id },
      };
      if (pgdSide) {
        await pgdSide.fns.postFn.dispatch(input, { tx: client });
      } else {
        await client.query({
          name: 'gw_add_job',
          text: 'select graphile_worker.add_job($1, $2::json)',
          values: [POST_FN, JSON.stringify(input)],
        });
      }
      await client.query('commit');
    };
    const runMany = async (total: number, progress: boolean) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: txnClients }, async () => {
          const client = await pool.connect();
          try {
            while (next < total) {
              const seq = next++;
              await one(client, seq);
              if (progress && seq % 100 === 0) ctx.progress.update(seq, total, 'transactions');
            }
          } finally {
            client.release();
          }
        }),
      );
    };
    await runMany(WARMUP, false);
    const t0 = now();
    await runMany(txns, true);
    const ms = now() - t0;
    const result: TxnResult = {
      side,
      txns,
      clients: txnClients,
      ms,
      txnsPerSec: txns / (ms / 1000),
    };
    ctx.progress.finish(`${Math.round(result.txnsPerSec).toLocaleString('en-US')} transactions/s`);
    return result;
  } finally {
    await pgdSide?.dispatch.close();
    await pool.end();
    await db.drop();
  }
}
