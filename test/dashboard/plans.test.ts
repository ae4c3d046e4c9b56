/**
 * Every statement behind a dashboard page, EXPLAINed on 200,000 seeded calls
 * (about 270,000 attempts) after ANALYZE: none reads calls or attempts with a
 * sequential scan. The planner's choice between an index and a sequential
 * scan is a cost ratio of rows wanted to rows in the table; at this size a
 * page of 50, a one-hour window or one call is already well under 1% of the
 * table, as it is at 10 million, so a plan that is an index scan here stays
 * one there (the costs grow with the table, the ratios do not). A table of a
 * few thousand rows would not be honest: there a sequential scan is cheapest.
 * The one absolute number, the count cap (10,000 of 10 million calls, 0.1%),
 * is scaled to the same ratio here: 200 of 200,000.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardDb } from '../../src/dashboard/db.js';
import { dashboardQueries } from '../../src/observe/dashboard-statements.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { FORBIDDEN_SCAN, planScans, planStatements, seedForPlans } from './plan-statements.js';

const N = 200_000;
let db: TestDatabase;
const q = dashboardQueries('pgdispatch');

beforeAll(async () => {
  db = await createTestDatabase();
  await seedForPlans(db.pool, N);
}, 120_000);
afterAll(async () => {
  await db?.drop();
});

describe('dashboard statements at 200,000 calls', () => {
  it('seeded what the argument needs', async () => {
    const { rows } = await db.pool.query(
      `select (select count(*) from pgdispatch.calls)::int as calls,
              (select count(*) from pgdispatch.attempts)::int as attempts,
              (select count(*) from pgdispatch.calls where created_at >= now() - interval '1 hour')::int as last_hour`,
    );
    expect(rows[0].calls).toBe(N);
    expect(rows[0].attempts).toBeGreaterThan(N);
    expect(rows[0].last_hour).toBeLessThan(400);
  });

  const statements = planStatements(q, N);
  it.each(statements.map((st, i) => [`${i} ${st.name}`, st] as const))(
    'no sequential scan of calls, attempts or steps: %s',
    async (_name, st) => {
      const used = await planScans(db.pool, st);
      expect(used.filter((s) => FORBIDDEN_SCAN.test(s)), used.join(', ')).toEqual([]);
    },
  );

  it('a page runs its reads in a READ ONLY transaction: a write there fails in Postgres', async () => {
    const ro = dashboardDb(db.pool, 1000);
    await expect(
      ro.read((run) => run({ name: 'write', text: `update pgdispatch.calls set priority = 1 where id = 1`, values: [] })),
    ).rejects.toMatchObject({ code: '25006' });
  });

  it('a count that takes too long gives up alone; the rest of the page still reads', async () => {
    const ro = dashboardDb(db.pool, 2000);
    const [slow, after] = await ro.read(async (run) => [
      await run.soft({ name: 'slow', text: 'select pg_sleep(1) as n', values: [] }, 50),
      await run<{ t: string }>({ name: 'timeout', text: `select current_setting('statement_timeout') as t`, values: [] }),
    ]);
    expect(slow).toBeUndefined();
    expect(after?.[0]?.t).toBe('2s');
  });
});
