/**
 * Children's final statuses wake their parents: two statements (as two
 * workers' group commits) that each finish children of the same two parents,
 * in opposite id orders, both commit; and a group that brings the last
 * awaited children wakes its parent once.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/** Parents 1 (A) and 2 (B) waiting for `need` children each; children `ids` with their parent. */
async function seed(need: number, children: [id: number, parent: number][]): Promise<void> {
  await db.pool.query(
    `insert into pgdispatch.calls (id, function, input, status, retry_policy, wake_need)
     overriding system value values (1, 'p', 'null', 'waiting', 'default', $1),
                                    (2, 'p', 'null', 'waiting', 'default', $1)`,
    [need],
  );
  await db.pool.query(
    `insert into pgdispatch.calls (id, function, input, status, retry_policy, parent_call_id)
     overriding system value
     select c.id, 'c', 'null', 'running', 'default', c.parent
       from unnest($1::bigint[], $2::bigint[]) as c(id, parent)`,
    [children.map((c) => c[0]), children.map((c) => c[1])],
  );
  await db.pool.query(
    `insert into pgdispatch.steps (call_id, seq, name, kind, status, child_call_id)
     select c.parent, row_number() over (partition by c.parent order by c.id), 'c' || c.id,
            'call', 'waiting', c.id
       from unnest($1::bigint[], $2::bigint[]) as c(id, parent)`,
    [children.map((c) => c[0]), children.map((c) => c[1])],
  );
}

async function reset(): Promise<void> {
  await db.pool.query('delete from pgdispatch.calls');
  await db.pool.query('drop trigger if exists slow_steps on pgdispatch.steps');
}

it('two groups finishing children of the same parents in opposite orders both commit', async () => {
  await reset();
  // Group 1 finishes 11 (of A) then 12 (of B); group 2 finishes 21 (of B) then 22 (of A):
  // a statement updates its rows in id order.
  await seed(5, [
    [11, 1],
    [12, 2],
    [21, 2],
    [22, 1],
  ]);
  // Each step update takes a while, so the two statements overlap row by row.
  await db.pool.query(`
    create function pg_temp_slow() returns trigger language plpgsql as $$
    begin perform pg_sleep(0.2); return new; end $$;
    create trigger slow_steps before update on pgdispatch.steps
      for each row execute function pg_temp_slow();`);
  const finish = async (ids: number[]) => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(
        `update pgdispatch.calls set status = 'succeeded', finished_at = now(), output = '1'
          where id = any($1::bigint[])`,
        [ids],
      );
    } finally {
      await c.end();
    }
  };
  const results = await Promise.allSettled([finish([11, 12]), finish([21, 22])]);
  await db.pool.query('drop trigger slow_steps on pgdispatch.steps; drop function pg_temp_slow()');
  expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual([
    'ok',
    'ok',
  ]);
  const { rows } = await db.pool.query<{ id: string; status: string; wake_need: number }>(
    'select id, status, wake_need from pgdispatch.calls where id in (1, 2) order by id',
  );
  expect(rows).toEqual([
    { id: '1', status: 'waiting', wake_need: 3 },
    { id: '2', status: 'waiting', wake_need: 3 },
  ]);
  const steps = await db.pool.query<{ n: string }>(
    `select count(*) as n from pgdispatch.steps where status = 'succeeded' and output = '1'`,
  );
  expect(steps.rows[0]!.n).toBe('4');
});

it('a group bringing the last awaited children wakes the parent once, with one job', async () => {
  await reset();
  const children = Array.from({ length: 30 }, (_, i): [number, number] => [100 + i, 1]);
  await seed(30, children);
  await db.pool.query(
    `update pgdispatch.calls set status = 'succeeded', finished_at = now(), output = '1'
      where id between 100 and 109`,
  );
  await db.pool.query(
    `update pgdispatch.calls set status = case when id = 129 then 'failed' else 'succeeded' end,
            finished_at = now(), output = '1', last_error = case when id = 129 then 'no' end
      where id between 110 and 129`,
  );
  const parent = await db.pool.query<{ status: string; wake_need: number; job_id: string | null }>(
    'select status, wake_need, job_id from pgdispatch.calls where id = 1',
  );
  expect(parent.rows[0]).toMatchObject({ status: 'pending', wake_need: 0 });
  expect(parent.rows[0]!.job_id).not.toBeNull();
  const jobs = await db.pool.query<{ n: string }>(
    'select count(*) as n from graphile_worker._private_jobs where id = $1',
    [parent.rows[0]!.job_id],
  );
  expect(jobs.rows[0]!.n).toBe('1');
  const events = await db.pool.query<{ reason: string }>(
    `select reason from pgdispatch.call_events where call_id = 1 and event = 'woken'`,
  );
  expect(events.rows).toEqual([{ reason: 'child 129 failed' }]);
  const failed = await db.pool.query<{ error: string }>(
    `select error from pgdispatch.steps where call_id = 1 and status = 'failed'`,
  );
  expect(failed.rows).toEqual([{ error: 'child call 129 (c) failed: no' }]);
  // Later finishes of other children change nothing.
  await db.pool.query(
    `update pgdispatch.calls set status = 'waiting', finished_at = null where id = 1`,
  );
  await db.pool.query(`update pgdispatch.calls set output = '2' where id between 100 and 129`);
  const again = await db.pool.query<{ n: string }>(
    `select count(*) as n from pgdispatch.call_events where call_id = 1 and event = 'woken'`,
  );
  expect(again.rows[0]!.n).toBe('1');
});

it('a child finishing while its parent suspends wakes it, whichever commits first', async () => {
  await reset();
  await db.pool.query(
    `insert into pgdispatch.calls (id, function, input, status, retry_policy, attempts)
     overriding system value values (1, 'p', 'null', 'running', 'default', 0)`,
  );
  await db.pool.query(
    `insert into pgdispatch.calls (id, function, input, status, retry_policy, parent_call_id)
     overriding system value values (11, 'c', 'null', 'running', 'default', 1)`,
  );
  await db.pool.query(
    `insert into pgdispatch.steps (call_id, seq, name, kind, status, child_call_id)
     values (1, 0, 'c', 'call', 'waiting', 11)`,
  );
  // The child's recording has finished its step but not committed when the
  // parent's run, which saw the step waiting, records its suspension.
  const child = new pg.Client({ connectionString: db.url });
  const parent = new pg.Client({ connectionString: db.url });
  await child.connect();
  await parent.connect();
  try {
    await child.query('begin');
    await child.query(
      `update pgdispatch.calls set status = 'succeeded', finished_at = now(), output = '1'
        where id = 11`,
    );
    const suspend = JSON.stringify([
      {
        op: 'suspend',
        i: 0,
        call_id: 1,
        job_id: 0,
        attempt: 1,
        started_ms: Date.now(),
        duration_ms: 1,
        blocked: [0],
        need_all: true,
        need_any: false,
        reason: 'waiting for child 11',
      },
    ]);
    const suspended = parent.query('select * from pgdispatch.record_workflow($1, $2::jsonb)', [
      'w',
      suspend,
    ]);
    await new Promise((r) => setTimeout(r, 200));
    await child.query('commit');
    await suspended;
  } finally {
    await child.end();
    await parent.end();
  }
  const { rows } = await db.pool.query<{ status: string; wake_need: number; job: string }>(
    `select c.status, c.wake_need, j.id::text as job
       from pgdispatch.calls c left join graphile_worker._private_jobs j on j.id = c.job_id
      where c.id = 1`,
  );
  expect(rows[0]!.status).toBe('pending');
  expect(rows[0]!.wake_need).toBe(0);
  expect(rows[0]!.job).not.toBeNull();
});

it('two runs of a call dispatching the same child step make one child', async () => {
  await reset();
  await db.pool.query(
    `insert into pgdispatch.calls (id, function, input, status, retry_policy, attempts)
     overriding system value values (1, 'p', 'null', 'running', 'default', 0)`,
  );
  await db.pool.query(
    `insert into pgdispatch.functions (name, retry_policy) values ('c', 'default')
     on conflict do nothing`,
  );
  // Children get ids past the seeded ones.
  await db.pool.query(`select setval('pgdispatch.calls_id_seq', 1000)`);
  const op = JSON.stringify([
    { op: 'call', i: 0, call_id: 1, seq: 0, name: 'c', fn: 'c', input: { n: 1 }, options: {} },
  ]);
  const record =
    'select child_call_id::text, status, recorded from pgdispatch.record_workflow($1, $2::jsonb)';
  // The first run has dispatched the child with its step, not yet committed,
  // when a second run (of a worker that took the call over) records the same step.
  const first = new pg.Client({ connectionString: db.url });
  const second = new pg.Client({ connectionString: db.url });
  await first.connect();
  await second.connect();
  try {
    await first.query('begin');
    const a = await first.query(record, ['w1', op]);
    const later = second.query(record, ['w2', op]);
    await new Promise((r) => setTimeout(r, 200));
    await first.query('commit');
    const b = await later;
    expect(a.rows).toEqual([
      { child_call_id: expect.any(String), status: 'waiting', recorded: true },
    ]);
    expect(b.rows).toEqual([
      { child_call_id: a.rows[0].child_call_id, status: 'waiting', recorded: false },
    ]);
  } finally {
    await first.end();
    await second.end();
  }
  const { rows } = await db.pool.query(
    `select count(*)::int as n from pgdispatch.calls where parent_call_id = 1`,
  );
  expect(rows[0].n).toBe(1);
});
