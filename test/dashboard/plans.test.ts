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
import {
  COUNT_CAP,
  dashboardQueries,
  type Statement,
} from '../../src/observe/dashboard-statements.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { seed } from './seed.js';

const N = 200_000;
const CAP = (COUNT_CAP * N) / 10_000_000;
let db: TestDatabase;
const q = dashboardQueries('pgdispatch');

beforeAll(async () => {
  db = await createTestDatabase();
  // 13 s apart: the calls span 30 days, so an hour holds about 280 of them.
  await seed(db.pool, N, 13);
  // Workflow rows at the same ratio as a busy install: every 20th call is a
  // workflow of 6 steps, and its call step's child is the next call.
  await db.pool.query(`
    insert into pgdispatch.steps (call_id, seq, name, kind, status, attempts, output, started_at, finished_at,
                                  child_call_id, wake_at, signal_key)
    select c.id, g.seq, 'step ' || g.seq, (array['step','tx','call','sleep','wait','now'])[g.seq + 1],
           'succeeded', 1, '{"ok": true}', c.created_at, c.created_at,
           case when g.seq = 2 then c.id + 1 end, case when g.seq = 3 then c.created_at end,
           case when g.seq = 4 then 'order:' || c.id end
      from pgdispatch.calls c, generate_series(0, 5) g(seq)
     where c.id % 20 = 0`);
  await db.pool.query(`update pgdispatch.calls set parent_call_id = id - 1 where id % 20 = 1`);
  // A fifth of the workflows are waiting (1% of the calls): a status filter on
  // waiting then walks the id index as one on failed does (see docs/dashboard.md).
  await db.pool.query(
    `update pgdispatch.calls set status = 'waiting', finished_at = null, wake_need = 1 where id % 100 = 0`,
  );
  await db.pool.query(`
    insert into pgdispatch.schedules (name, function, cron)
    select 'schedule-' || i, 'send_email', '*/5 * * * *' from generate_series(1, 20) i`);
  await db.pool.query('analyze');
}, 120_000);
afterAll(async () => {
  await db?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function scans(node: PlanNode, out: string[] = []): string[] {
  if (node['Relation Name']) out.push(`${node['Node Type']} on ${node['Relation Name']}`);
  for (const p of node.Plans ?? []) scans(p, out);
  return out;
}

async function plan(st: Statement): Promise<string[]> {
  const { rows } = await db.pool.query({
    text: `explain (format json) ${st.text}`,
    values: st.values,
  });
  return scans(rows[0]['QUERY PLAN'][0].Plan as PlanNode);
}

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

  const maxId = String(N);
  const statements: Statement[] = [
    q.listCalls({}, 50),
    q.listCalls({ before: String(N - 1000) }, 50),
    q.listCalls({ statuses: ['failed'] }, 50),
    q.listCalls({ function: 'send_email' }, 50),
    q.listCalls({ function: 'send_email', statuses: ['failed'], before: String(N / 2) }, 50),
    q.listCalls({ endpoint: 'billing' }, 50),
    q.listCalls({ endpoint: 'billing', statuses: ['failed'], httpStatus: 500 }, 50),
    q.listCalls({ httpStatus: 500 }, 50),
    q.listCalls({ sinceS: 3600 }, 50),
    q.listCalls({ sinceS: 3600, input: { body: { kind: 'paid' } } }, 50),
    q.listCalls({ input: { endpoint: 'orders' } }, 50),
    q.countCalls({}, CAP),
    q.countCalls({ statuses: ['failed'] }, CAP),
    q.countCalls({ function: 'webhook', statuses: ['failed'] }, CAP),
    q.countCalls({ endpoint: 'billing' }, CAP),
    q.countCalls({ sinceS: 3600, httpStatus: 500 }, CAP),
    q.bulkIds({ function: 'send_email' }, ['failed', 'cancelled'], '0', maxId, 500),
    q.call('12345'),
    q.attempts('12345'),
    q.events('12345'),
    q.policy('webhook'),
    q.policies(),
    q.functions(),
    q.functionCounts(3600),
    q.functionTotals(3600),
    q.functionTotals(86_400),
    q.series('function', 3600, 60),
    q.series('endpoint', 3600, 60),
    q.series('function', 900, 15),
    q.series('function', 86_400, 1800),
    q.series('endpoint', 86_400, 1800),
    q.endpoints(),
    q.endpoint('billing'),
    q.workers(30),
    q.tail(String(N), 500),
    q.lastAttemptId(),
    q.maxCallId(),
    q.listCalls({ statuses: ['waiting'] }, 50),
    q.steps('12340'),
    q.children('12340', 200),
    q.callWaits('12345'),
    q.endpointConcurrency(),
    q.endpointConcurrencyOf('billing'),
    q.concurrencyChanges('https://billing.example.com', 20),
    q.schedules(),
    q.scheduleCalls('schedule-1', 'send_email', 5),
    q.setScheduleEnabled('schedule-1', false, 'x'),
    q.retryCall('12345', 'x'),
    q.cancelCall('12345', 'x'),
  ];
  it.each(statements.map((st, i) => [`${i} ${st.name}`, st] as const))(
    'no sequential scan of calls, attempts or steps: %s',
    async (_name, st) => {
      const used = await plan(st);
      expect(
        used.filter((s) => /^Seq Scan on (calls|attempts|steps)(_legacy|_p\d{8})?$/.test(s)),
        used.join(', '),
      ).toEqual([]);
    },
  );

  it('a page runs its reads in a READ ONLY transaction: a write there fails in Postgres', async () => {
    const ro = dashboardDb(db.pool, 1000);
    await expect(
      ro.read((run) =>
        run({
          name: 'write',
          text: `update pgdispatch.calls set priority = 1 where id = 1`,
          values: [],
        }),
      ),
    ).rejects.toMatchObject({ code: '25006' });
  });

  it('a count that takes too long gives up alone; the rest of the page still reads', async () => {
    const ro = dashboardDb(db.pool, 2000);
    const [slow, after] = await ro.read(async (run) => [
      await run.soft({ name: 'slow', text: 'select pg_sleep(1) as n', values: [] }, 50),
      await run<{ t: string }>({
        name: 'timeout',
        text: `select current_setting('statement_timeout') as t`,
        values: [],
      }),
    ]);
    expect(slow).toBeUndefined();
    expect(after?.[0]?.t).toBe('2s');
  });
});
