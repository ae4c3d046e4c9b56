/**
 * The queue's own cost per call, without the HTTP request: a worker in this
 * process drains N calls of a function that does nothing, and the process's
 * CPU time is divided by N. pgdispatch (claim, attempt wrapper, recording,
 * log line) against graphile-worker with its local queue and batched
 * completion (fetch, task wrapper, completion, log line), each on a fresh
 * database, alternating sides for `--rounds`.
 *
 *   npm run build && tsc -p bench/tsconfig.json && node bench/dist/bench/overhead.js [--calls N] [--rounds R]
 *
 * Logs go to bench/results/overhead-*.log so that writing them costs what it
 * costs in the end-to-end bench.
 */
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeWorkerUtils, run } from 'graphile-worker';
import pg from 'pg';
import pino from 'pino';
import { Databases } from './db.js';
import { pgd, ROOT } from './lib.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
  },
});
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = 50;
const BATCH = 1000;

const logDir = join(ROOT, 'bench', 'results');
mkdirSync(logDir, { recursive: true });
const logTo = (name: string) =>
  pino.destination({ dest: openSync(join(logDir, `overhead-${name}.log`), 'w'), sync: true });

async function drained(url: string, task: string): Promise<void> {
  const dispatch = pgd.createDispatch({ connectionString: url, logger: pino({ level: 'silent' }) });
  try {
    for (;;) {
      const { rows } = await dispatch.pool.query<{ n: number }>(
        `select count(*)::int as n from graphile_worker._private_jobs j
           join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = $1`,
        [task],
      );
      if (rows[0]?.n === 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await dispatch.close();
  }
}

/** CPU µs of this process per call while `start` drains the queue. */
async function measure(url: string, task: string, start: () => Promise<() => Promise<void>>) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const stop = await start();
  await drained(url, task);
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  await stop();
  return { cpuUsPerCall: (cpu.user + cpu.system) / CALLS, callsPerSecond: (CALLS / ms) * 1000 };
}

async function pgdispatchSide(url: string) {
  const dispatch = pgd.createDispatch({
    connectionString: url,
    logger: pino({ name: 'pgdispatch' }, logTo('pgdispatch')),
  });
  const fn = dispatch.func('overhead_noop', async () => undefined);
  for (let i = 0; i < CALLS; i += BATCH) {
    await fn.dispatchMany(Array.from({ length: Math.min(BATCH, CALLS - i) }, (_, k) => ({ k })));
  }
  const result = await measure(url, 'overhead_noop', async () => {
    const worker = await dispatch.worker({ concurrency: CONCURRENCY, retention: false });
    return () => worker.stop();
  });
  await dispatch.close();
  return result;
}

async function graphileSide(url: string) {
  // Our pool, not one graphile-worker makes: it ends its own without waiting
  // and unhooks their error handlers first, so dropping the database right
  // after would crash this process with an unhandled 'error' event.
  const pgPool = new pg.Pool({ connectionString: url, max: 20 });
  pgPool.on('error', () => {});
  pgPool.on('connect', (client) => client.on('error', () => {}));
  try {
    return await graphileRun(url, pgPool);
  } finally {
    await pgPool.end();
  }
}

async function graphileRun(url: string, pgPool: pg.Pool) {
  const utils = await makeWorkerUtils({ pgPool });
  for (let i = 0; i < CALLS; i += BATCH) {
    await utils.addJobs(
      Array.from({ length: Math.min(BATCH, CALLS - i) }, (_, k) => ({
        identifier: 'overhead_gw_noop',
        payload: { k },
      })),
    );
  }
  await utils.release();
  const log = logTo('graphile-worker');
  const result = await measure(url, 'overhead_gw_noop', async () => {
    const runner = await run({
      pgPool,
      concurrency: CONCURRENCY,
      noHandleSignals: true,
      taskList: { overhead_gw_noop: async () => undefined },
      // Its default logger writes a line per job to the console; to the same kind of file here.
      logger: new (await import('graphile-worker')).Logger(() => (level, message) => {
        log.write(`${JSON.stringify({ level, message })}\n`);
      }),
      preset: {
        worker: {
          localQueue: { size: CONCURRENCY },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
      },
    });
    return async () => {
      await runner.stop();
      await runner.promise;
    };
  });
  return result;
}

const dbs = await Databases.open();
try {
  const rows: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [side, fn] of [
      ['graphile-worker local queue', graphileSide],
      ['pgdispatch', pgdispatchSide],
    ] as const) {
      const db = await dbs.fresh(`overhead_${round}`);
      try {
        const r = await fn(db.url);
        rows.push(
          `${String(round).padStart(5)}  ${side.padEnd(28)}  ${r.cpuUsPerCall.toFixed(1).padStart(12)}  ${Math.round(r.callsPerSecond).toLocaleString('en-US').padStart(8)}`,
        );
      } finally {
        await db.drop();
      }
    }
  }
  console.log(
    `No-op function, ${CALLS} calls, concurrency ${CONCURRENCY}, worker in this process.`,
  );
  console.log('round  side                          CPU µs/call   calls/s');
  for (const r of rows) console.log(r);
} finally {
  await dbs.close();
  await dbs.stopServer();
}
