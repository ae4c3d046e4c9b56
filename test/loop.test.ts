/**
 * The job loop on its own, against real Postgres: batching within the
 * concurrency, the local buffer giving stale jobs back, a stop giving back
 * what never started, and jobs locked to a live worker that does not know it.
 * The runner here deletes a job where pgdispatch's recorder would record it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeOf } from '../src/sql/runtime.js';
import type { Dispatch, DispatchFunction } from '../src/index.js';
import { OrphanCheck } from '../src/maintain/orphans.js';
import { type ClaimedJob, JobFeed, type JobFeedOptions } from '../src/queue/feed.js';
import {
  createTestDatabase,
  eventually,
  nestedPlans,
  quietLogger,
  type TestDatabase,
} from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;
let fn: DispatchFunction<{ i: number }, void>;
let taskIds: number[];

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch();
  fn = dispatch.func('loop_fn', async () => undefined);
  const { rows } = await db.pool.query<{ id: number }>({
    ...runtimeOf(dispatch).queries.taskIds,
    values: [['loop_fn']],
  });
  taskIds = rows.map((r) => r.id);
});
afterAll(() => db.drop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function enqueue(n: number, { clear = true } = {}): Promise<void> {
  if (clear) await db.pool.query('delete from graphile_worker._private_jobs');
  await fn.dispatchMany(Array.from({ length: n }, (_, i) => ({ i })));
}

/** What the recorder does to a job once its outcome is committed. */
const complete = (job: ClaimedJob) =>
  db.pool.query('delete from graphile_worker._private_jobs where id = $1', [job.id]).then(() => undefined);

function loop(workerId: string, options: Partial<JobFeedOptions> & Pick<JobFeedOptions, 'run'>) {
  return new JobFeed({
    pool: dispatch.pool,
    queries: runtimeOf(dispatch).queries,
    logger: quietLogger(),
    workerId,
    taskIds,
    concurrency: 5,
    pollIntervalMs: 100,
    ...options,
  });
}

const jobs = async () =>
  (
    await db.pool.query<{ id: string; locked_by: string | null; attempts: number }>(
      'select id::text, locked_by, attempts from graphile_worker._private_jobs order by id',
    )
  ).rows;

describe('job feed', () => {
  it('runs every job once, never more than the concurrency at a time', async () => {
    await enqueue(60);
    const seen: string[] = [];
    let running = 0;
    let most = 0;
    const l = loop('w-batch', {
      run: async (job) => {
        seen.push(job.id);
        most = Math.max(most, ++running);
        await sleep(10);
        running--;
        return { recorded: complete(job) };
      },
    });
    await l.start();
    await eventually(async () => seen.length === 60 && (await jobs()).length === 0);
    await l.stop(1_000);
    expect(new Set(seen).size).toBe(60);
    expect(most).toBe(5);
  });

  it('gives buffered jobs that waited too long back to the queue, for an idle worker', async () => {
    await enqueue(6);
    let release: () => void = () => {};
    const slow = new Promise<void>((r) => {
      release = r;
    });
    const ranByA: string[] = [];
    const a = loop('w-slow', {
      concurrency: 1,
      bufferSize: 5,
      bufferTtlMs: 300,
      run: async (job) => {
        ranByA.push(job.id);
        await slow;
        return { recorded: complete(job) };
      },
    });
    await a.start();
    // One running, five waiting in a's buffer.
    expect((await jobs()).filter((j) => j.locked_by === 'w-slow')).toHaveLength(6);

    const ranByB: { id: string; attempts: number }[] = [];
    const b = loop('w-idle', {
      bufferSize: 0,
      run: async (job) => {
        const { rows } = await db.pool.query('select attempts from graphile_worker._private_jobs where id = $1', [job.id]);
        ranByB.push({ id: job.id, attempts: rows[0].attempts });
        return { recorded: complete(job) };
      },
    });
    await b.start();
    await eventually(async () => ranByB.length === 5, { timeoutMs: 5_000, message: 'b ran the 5 buffered jobs' });
    expect(ranByA).toHaveLength(1);
    // Given back as if never claimed: b's claim is each job's first attempt.
    expect(ranByB.map((r) => r.attempts)).toEqual([1, 1, 1, 1, 1]);
    release();
    await eventually(async () => (await jobs()).length === 0);
    await Promise.all([a.stop(1_000), b.stop(1_000)]);
  });

  it('on stop gives back the buffered jobs that never started, keeping their place', async () => {
    await enqueue(4);
    const runAt = async () =>
      (
        await db.pool.query<{ run_at: string }>(
          'select run_at::text from graphile_worker._private_jobs order by id',
        )
      ).rows.map((r) => r.run_at);
    const before = await runAt();
    const l = loop('w-stop', {
      concurrency: 1,
      bufferSize: 5,
      run: async (job, shutdown) => {
        await new Promise((r) => shutdown.addEventListener('abort', r, { once: true }));
        // Released the way the attempt wrapper releases on shutdown.
        await db.pool.query(
          'update graphile_worker._private_jobs set locked_by = null, locked_at = null where id = $1',
          [job.id],
        );
        return undefined;
      },
    });
    await l.start();
    expect((await jobs()).filter((j) => j.locked_by === 'w-stop')).toHaveLength(4);
    await l.stop(50);
    const after = await jobs();
    expect(after.filter((j) => j.locked_by !== null)).toHaveLength(0);
    // Three never started: their attempt count is back to 0; the one that ran keeps its 1.
    expect(after.map((j) => j.attempts).sort()).toEqual([0, 0, 0, 1]);
    // The three never started keep their run_at (the one released on shutdown runs again now).
    const kept = (await runAt()).filter((r, i) => r === before[i]);
    expect(kept.length).toBeGreaterThanOrEqual(3);
  });

  it('gives back jobs locked to it that it is not running (a claim whose reply was lost)', async () => {
    await enqueue(3);
    // As if this worker's claim had committed and its reply never arrived.
    await db.pool.query(
      `update graphile_worker._private_jobs
          set locked_by = 'w-orphans', locked_at = now() - interval '1 minute', attempts = 1`,
    );
    const ran: string[] = [];
    const l = loop('w-orphans', {
      run: async (job) => {
        ran.push(job.id);
        return { recorded: complete(job) };
      },
    });
    const orphans = new OrphanCheck(runtimeOf(dispatch), {
      workerId: 'w-orphans',
      held: () => l.heldJobIds(),
      onUnlocked: () => l.poke(),
      intervalMs: 200,
      logger: quietLogger(),
    });
    await l.start();
    orphans.start();
    await eventually(async () => ran.length === 3, { timeoutMs: 5_000, message: 'orphaned jobs ran' });
    await orphans.stop();
    await l.stop(1_000);
    expect((await jobs()).length).toBe(0);
  });

  it('claims a job freed behind its scan position at the next poll', async () => {
    // Three jobs from an earlier dispatch, held by a worker that died...
    await enqueue(3);
    await db.pool.query(`update graphile_worker._private_jobs set locked_by = 'w-dead', locked_at = now()`);
    const early = (await jobs()).map((j) => j.id);
    await sleep(5);
    // ...and a later backlog, which the loop drains scanning from its last claim.
    await enqueue(60, { clear: false });
    const ran: string[] = [];
    const l = loop('w-behind', {
      concurrency: 2,
      bufferSize: 2,
      pollIntervalMs: 200,
      run: async (job) => {
        ran.push(job.id);
        if (ran.length === 10) {
          // Rescued the way rescue_lost_workers does it: unlocked, old run_at, no notification.
          await db.pool.query(
            `update graphile_worker._private_jobs set locked_by = null, locked_at = null where locked_by = 'w-dead'`,
          );
        }
        await sleep(5);
        return { recorded: complete(job) };
      },
    });
    await l.start();
    await eventually(async () => ran.length === 63, { timeoutMs: 10_000, message: 'all 63 ran' });
    await l.stop(1_000);
    for (const id of early) expect(ran).toContain(id);
    expect(new Set(ran).size).toBe(63);
  });
});

describe('claim_jobs', () => {
  it('claims by index in the one plan a session keeps, with statistics or without', async () => {
    await enqueue(2_000);
    const plans = await nestedPlans(db.pool, async (client) => {
      for (let i = 0; i < 8; i++) {
        // Halfway, the table gets statistics, as autovacuum would give it.
        if (i === 4) await client.query('analyze graphile_worker._private_jobs');
        const { rows } = await client.query({
          ...runtimeOf(dispatch).queries.claimJobs,
          values: ['w-plan', taskIds, 50, -32_768, '-infinity', []],
        });
        expect(rows).toHaveLength(50);
      }
    });
    const claims = plans.filter((p) => p.includes('Update on _private_jobs'));
    expect(claims).toHaveLength(8);
    for (const plan of claims) {
      // The due jobs in graphile-worker's order, then the claimed ones by
      // primary key: no join that reads the whole table.
      expect(plan).toMatch(/Index Scan using \w+ on _private_jobs j0/);
      expect(plan).toMatch(
        /Index Scan using \w+ on _private_jobs j\b[^\n]*\n(?:[^\n]*\n)*?\s+Index Cond: \(id = ANY/,
      );
      expect(plan).not.toMatch(/Seq Scan|Hash Join|Merge Join|Bitmap/);
    }
    const locked = await db.pool.query(
      `select count(*)::int as n from graphile_worker._private_jobs where locked_by = 'w-plan'`,
    );
    expect(locked.rows[0].n).toBe(400);
  });
});
