/**
 * What the plan checks seed and EXPLAIN, shared by test/dashboard/plans.test.ts
 * (200,000 calls, in the suite) and `npm run bench:plans` (10 million): the
 * seeded calls spread over 30 days whatever their number, with workflow steps,
 * children, waiting calls and schedules, and every dashboard statement.
 */
import type pg from 'pg';
import { COUNT_CAP, type DashboardQueries, type Statement } from '../../src/observe/dashboard-statements.js';
import { seed } from './seed.js';

/** Seeds `n` calls (and their attempts, events, steps) and analyzes. */
export async function seedForPlans(pool: pg.Pool, n: number): Promise<void> {
  // Spread over 30 days: at 200,000 calls an hour holds about 280 of them.
  await seed(pool, n, (30 * 86_400) / n);
  // Workflow rows at the same ratio as a busy install: every 20th call is a
  // workflow of 6 steps, and its call step's child is the next call.
  await pool.query(`
    insert into pgdispatch.steps (call_id, seq, name, kind, status, attempts, output, started_at, finished_at,
                                  child_call_id, wake_at, signal_key)
    select c.id, g.seq, 'step ' || g.seq, (array['step','tx','call','sleep','wait','now'])[g.seq + 1],
           'succeeded', 1, '{"ok": true}', c.created_at, c.created_at,
           case when g.seq = 2 then c.id + 1 end, case when g.seq = 3 then c.created_at end,
           case when g.seq = 4 then 'order:' || c.id end
      from pgdispatch.calls c, generate_series(0, 5) g(seq)
     where c.id % 20 = 0`);
  await pool.query(`update pgdispatch.calls set parent_call_id = id - 1 where id % 20 = 1`);
  // A fifth of the workflows are waiting (1% of the calls): a status filter on
  // waiting then walks the id index as one on failed does (see docs/dashboard.md).
  await pool.query(
    `update pgdispatch.calls set status = 'waiting', finished_at = null, wake_need = 1 where id % 100 = 0`,
  );
  await pool.query(`
    insert into pgdispatch.schedules (name, function, cron)
    select 'schedule-' || i, 'send_email', '*/5 * * * *' from generate_series(1, 20) i`);
  await pool.query('analyze');
}

/**
 * Every statement behind a dashboard page, with parameters fit for `n`
 * seeded calls. The count cap is scaled to the same share of the table as
 * COUNT_CAP is of 10 million calls.
 */
export function planStatements(q: DashboardQueries, n: number): Statement[] {
  const cap = Math.max(1, Math.round((COUNT_CAP * n) / 10_000_000));
  const maxId = String(n);
  return [
  q.listCalls({}, 50),
  q.listCalls({ before: String(n - 1000) }, 50),
  q.listCalls({ statuses: ['failed'] }, 50),
  q.listCalls({ function: 'send_email' }, 50),
  q.listCalls({ function: 'send_email', statuses: ['failed'], before: String(n / 2) }, 50),
  q.listCalls({ endpoint: 'billing' }, 50),
  q.listCalls({ endpoint: 'billing', statuses: ['failed'], httpStatus: 500 }, 50),
  q.listCalls({ httpStatus: 500 }, 50),
  q.listCalls({ sinceS: 3600 }, 50),
  q.listCalls({ sinceS: 3600, input: { body: { kind: 'paid' } } }, 50),
  q.listCalls({ input: { endpoint: 'orders' } }, 50),
  q.countCalls({}, cap),
  q.countCalls({ statuses: ['failed'] }, cap),
  q.countCalls({ function: 'webhook', statuses: ['failed'] }, cap),
  q.countCalls({ endpoint: 'billing' }, cap),
  q.countCalls({ sinceS: 3600, httpStatus: 500 }, cap),
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
  q.rollupState(),
  q.series('function', 3600, 60),
  q.series('endpoint', 3600, 60),
  q.series('function', 900, 15),
  q.series('function', 86_400, 1800),
  q.series('endpoint', 86_400, 1800),
  q.endpoints(),
  q.endpoint('billing'),
  q.workers(30),
  q.tail(String(n), 500),
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
}

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

/** The scans of the statement's plan, as "Index Scan on calls". */
export async function planScans(pool: pg.Pool, st: Statement): Promise<string[]> {
  const { rows } = await pool.query({ text: `explain (format json) ${st.text}`, values: st.values });
  return scans(rows[0]['QUERY PLAN'][0].Plan as PlanNode);
}

/** The scans a dashboard statement must never use. */
export const FORBIDDEN_SCAN = /^Seq Scan on (calls|attempts|steps)(_legacy|_p\d{8})?$/;
