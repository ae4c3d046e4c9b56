/**
 * The stats rollup against the rows it counts: per minute, function and
 * endpoint, its attempts, errors, duration sums and histograms equal a
 * direct aggregate of `attempts`; a second round adds only what came since;
 * the functions page shows the rollup's numbers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/index.js';
import { StatsRollup } from '../../src/maintain/rollup.js';
import { createRuntime } from '../../src/sql/runtime.js';
import { dashboardQueries } from '../../src/observe/dashboard-statements.js';
import { createTestDatabase, quietLogger, type TestDatabase } from '../support/db.js';
import { seed } from './seed.js';

let db: TestDatabase;
let rollup: StatsRollup;
beforeAll(async () => {
  db = await createTestDatabase();
  // 300 calls a minute apart: five hours of attempts.
  await seed(db.pool, 300);
  rollup = new StatsRollup(createRuntime(db.pool, 'pgdispatch', quietLogger()), { batchSize: 100 }, quietLogger());
});
afterAll(async () => {
  await db?.drop();
});

/** Rounds until the watermark reaches the last attempt. */
async function rollUpAll(): Promise<number> {
  let added = 0;
  for (let i = 0; i < 100; i++) {
    added += await rollup.runOnce();
    const { rows } = await db.pool.query(
      `select rs.last_id = (select coalesce(max(id), 0) from pgdispatch.attempts) as done
         from pgdispatch.rollup_state rs`,
    );
    if (rows[0].done) return added;
  }
  throw new Error('the rollup did not catch up');
}

/** The direct aggregate, histogram included, computed in SQL from the attempts rows. */
async function direct() {
  const { rows } = await db.pool.query(`
    with a as (
      select date_trunc('minute', a.finished_at) as minute, c.function,
             coalesce(case when c.function = 'webhook' then c.input ->> 'endpoint' end, '') as endpoint,
             a.status, a.duration_ms, width_bucket(a.duration_ms, pgdispatch.duration_buckets()) + 1 as bucket
        from pgdispatch.attempts a join pgdispatch.calls c on c.id = a.call_id)
    select k.minute, k.function, k.endpoint,
           (select count(*) from a where (a.minute, a.function, a.endpoint) = (k.minute, k.function, k.endpoint))::integer as attempts,
           (select count(*) from a where (a.minute, a.function, a.endpoint) = (k.minute, k.function, k.endpoint) and a.status <> 'ok')::integer as errors,
           (select sum(a.duration_ms) from a where (a.minute, a.function, a.endpoint) = (k.minute, k.function, k.endpoint)) as duration_ms_sum,
           array(select (select count(*) from a where (a.minute, a.function, a.endpoint) = (k.minute, k.function, k.endpoint) and a.bucket = g.i)::integer
                   from generate_series(1, cardinality(pgdispatch.duration_buckets()) + 1) g(i) order by g.i) as histogram
      from (select distinct minute, function, endpoint from a) k
     order by 1, 2, 3`);
  return rows;
}

const ROLLUP = `select minute, function, endpoint, attempts, errors, duration_ms_sum, histogram
                  from pgdispatch.attempt_rollups order by 1, 2, 3`;

describe('stats rollup', () => {
  it('equals a direct aggregate of the attempts rows, minute by minute', async () => {
    const added = await rollUpAll();
    const total = Number((await db.pool.query('select count(*) as n from pgdispatch.attempts')).rows[0].n);
    expect(added).toBe(total);
    const expected = await direct();
    expect(expected.length).toBeGreaterThan(100);
    expect((await db.pool.query(ROLLUP)).rows).toEqual(expected);
  });

  it('a later round adds only the attempts recorded since, into the minutes they belong to', async () => {
    await db.pool.query(`
      insert into pgdispatch.attempts (call_id, attempt, started_at, finished_at, duration_ms, status, worker)
      select c.id, c.attempts + 1, now() - interval '2 seconds', now() - interval '1 second', 1234.5,
             'temporary_error', 'w'
        from pgdispatch.calls c order by c.id desc limit 7`);
    const added = await rollUpAll();
    expect(added).toBe(7);
    expect((await db.pool.query(ROLLUP)).rows).toEqual(await direct());
  });

  it('a second worker does nothing while one holds the rollup', async () => {
    const c = await db.pool.connect();
    try {
      await c.query('begin');
      await c.query(`select pg_advisory_xact_lock(hashtext('pgdispatch:rollup_attempts'))`);
      await db.pool.query(`insert into pgdispatch.attempts (call_id, attempt, started_at, finished_at, duration_ms, status, worker)
        select c.id, c.attempts + 2, now(), now(), 5, 'ok', 'w' from pgdispatch.calls c order by c.id desc limit 1`);
      expect(await rollup.runOnce()).toBe(0);
      expect(await rollup.runOnce()).toBe(0);
      await c.query('commit');
    } finally {
      c.release();
    }
    expect(await rollUpAll()).toBe(1);
  });

  it('the functions page shows the rollup numbers, percentiles read from its histogram', async () => {
    const q = dashboardQueries('pgdispatch');
    const st = q.functionTotals(86_400);
    const { rows } = await db.pool.query({ text: st.text, values: st.values });
    // The same per function from the attempts rows themselves.
    const { rows: exact } = await db.pool.query(`
      with a as (
        select c.function, a.status, a.duration_ms,
               width_bucket(a.duration_ms, pgdispatch.duration_buckets()) + 1 as bucket
          from pgdispatch.attempts a join pgdispatch.calls c on c.id = a.call_id
         where a.finished_at >= date_trunc('minute', now() - interval '1 day')
      ), h as (
        select a.function, count(*)::integer as n, count(*) filter (where a.status <> 'ok')::integer as errors,
               percentile_cont(0.5) within group (order by a.duration_ms) as p50
          from a group by 1)
      select h.function as key, h.n, h.errors, h.p50,
             pgdispatch.histogram_quantiles(array(
               select (select count(*) from a where a.function = h.function and a.bucket = g.i)::integer
                 from generate_series(1, cardinality(pgdispatch.duration_buckets()) + 1) g(i) order by g.i),
               array[0.5, 0.95, 0.99]) as p
        from h order by 1`);
    expect(rows.map((r) => [r.key, r.n, r.errors, r.p])).toEqual(exact.map((r) => [r.key, r.n, r.errors, r.p]));
    // Read from the histogram, the median is within its bucket of the exact one.
    for (const r of exact) expect(Math.abs(r.p[0] - r.p50) / r.p50).toBeLessThan(0.35);

    const dash = createDashboard({ pool: db.pool });
    try {
      const html = await (await dash.fetch(new Request('http://127.0.0.1/functions?window=24h'))).text();
      for (const r of rows) {
        const row = html.match(new RegExp(`<tr><th scope="row"><a [^>]*>${r.key}</a></th>[\\s\\S]*?</tr>`))?.[0];
        expect(row, r.key).toBeDefined();
        expect(row).toContain(`<td class="num">${r.n}</td><td class="num">${r.errors}</td>`);
      }
      expect(html).toContain('attempt_rollups');
    } finally {
      await dash.close();
    }
  });
});
