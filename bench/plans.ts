/**
 * `npm run bench:plans`: every dashboard statement EXPLAINed on 10 million
 * seeded calls (and their attempts, events, workflow steps), seeded with
 * generate_series by the SQL the in-suite plan test runs at 200,000
 * (test/dashboard/plan-statements.ts). Fails on a sequential scan of calls,
 * attempts or steps. Then the stats rollup is brought up to date over all
 * the seeded attempts, and the stats statements are EXPLAINed again on a
 * full attempt_rollups.
 *
 *   DATABASE_URL=postgres://root@127.0.0.1:5432/postgres npm run bench:plans -- [--calls 10000000] [--database pgd_plans]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { dashboardQueries } from '../src/observe/dashboard-statements.js';
import { FORBIDDEN_SCAN, planScans, planStatements, seedForPlans } from '../test/dashboard/plan-statements.js';
import { pgd } from './lib.js';

const USAGE = `Usage: DATABASE_URL=… npm run bench:plans -- [options]

  --calls N        calls seeded (default: 10000000; about 1.3 attempts each)
  --database NAME  the database made for the run, dropped at the end (default: pgd_plans)
  --keep           keep the database (a second run with --reuse skips the seeding)
  --reuse          use the kept database as it is
  --no-rollup      skip the rollup pass and its EXPLAINs
The role needs CREATEDB.`;

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: process.env['BENCH_CALLS'] ?? '10000000' },
    database: { type: 'string', default: process.env['BENCH_DATABASE'] ?? 'pgd_plans' },
    keep: { type: 'boolean', default: false },
    reuse: { type: 'boolean', default: false },
    'no-rollup': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const n = Number(values.calls);
const name = values.database;
if (!Number.isInteger(n) || n < 1000) throw new Error('--calls must be an integer of at least 1000');
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error('--database must be a plain lowercase name');
const base = process.env['DATABASE_URL'];
if (!base) {
  console.error(USAGE);
  process.exit(2);
}

const seconds = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);
const admin = new pg.Client({ connectionString: base });
await admin.connect();
const url = new URL(base);
url.pathname = `/${name}`;
const started = Date.now();
if (!values.reuse) {
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
}
const pool = new pg.Pool({ connectionString: url.href, max: 2 });
let failed = 0;
try {
  if (!values.reuse) {
    const dispatch = pgd.createDispatch({ connectionString: url.href, logger: pino({ level: 'warn' }) });
    await dispatch.migrate();
    await dispatch.close();
    const t0 = Date.now();
    console.log(`seeding ${n.toLocaleString('en')} calls…`);
    await seedForPlans(pool, n);
    console.log(`seeded in ${seconds(t0)} s`);
  }
  const { rows: sizes } = await pool.query(`
    select (select count(*) from pgdispatch.calls)::bigint as calls,
           (select count(*) from pgdispatch.attempts)::bigint as attempts,
           (select count(*) from pgdispatch.steps)::bigint as steps,
           pg_size_pretty(pg_total_relation_size('pgdispatch.calls') + pg_total_relation_size('pgdispatch.attempts')) as size`);
  console.log(
    `calls ${Number(sizes[0].calls).toLocaleString('en')}, attempts ${Number(sizes[0].attempts).toLocaleString('en')}, steps ${Number(sizes[0].steps).toLocaleString('en')}, calls+attempts ${sizes[0].size}`,
  );

  const q = dashboardQueries('pgdispatch');
  const check = async (label: string, statements: ReturnType<typeof planStatements>) => {
    for (const [i, st] of statements.entries()) {
      const used = await planScans(pool, st);
      const bad = used.filter((s) => FORBIDDEN_SCAN.test(s));
      if (bad.length) failed++;
      console.log(`${bad.length ? 'FAIL' : 'ok  '}  ${label} ${i} ${st.name}: ${used.join(', ') || 'no table'}`);
    }
  };
  await check('', planStatements(q, n));

  if (!values['no-rollup']) {
    const t0 = Date.now();
    let added = 0;
    for (;;) {
      const { rows } = await pool.query('select pgdispatch.rollup_attempts(200000) as added');
      added += rows[0].added;
      const { rows: st } = await pool.query(
        `select rs.last_id >= (select coalesce(max(a.id), 0) from pgdispatch.attempts a) as done
           from pgdispatch.rollup_state rs where rs.name = 'attempts'`,
      );
      if (st[0].done) break;
    }
    const s = (Date.now() - t0) / 1000;
    const { rows: r } = await pool.query('select count(*)::bigint as n from pgdispatch.attempt_rollups');
    console.log(
      `rollup: ${added.toLocaleString('en')} attempts into ${Number(r[0].n).toLocaleString('en')} rows in ${s.toFixed(1)} s (${Math.round(added / s).toLocaleString('en')} attempts/s)`,
    );
    await pool.query('analyze pgdispatch.attempt_rollups');
    await check('rollup', [
      q.functionTotals(3600),
      q.functionTotals(604_800),
      q.series('function', 86_400, 1800),
      q.series('endpoint', 604_800, 10_800),
      q.rollupState(),
    ]);
  }
} finally {
  await pool.end();
  if (!values.keep && !values.reuse) await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
console.log(
  `${failed === 0 ? 'PASS' : 'FAIL'}: ${failed} statement(s) with a sequential scan of calls, attempts or steps; whole run ${seconds(started)} s`,
);
process.exit(failed === 0 ? 0 : 1);
