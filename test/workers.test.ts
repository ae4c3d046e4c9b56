import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create table runs (call_id bigint, attempt int, pid int, at timestamptz default clock_timestamp())');
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(() => db.drop());

function startWorker(env: Record<string, string> = {}, args: string[] = []): ChildProcess {
  const child = spawn(
    process.execPath,
    ['dist/cli/main.js', 'worker', '--module', 'test/fixtures/counting-functions.mjs', '--concurrency', '20', ...args],
    { env: { ...process.env, DATABASE_URL: db.url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  child.on('exit', (code, signal) => {
    if (code && code !== 0) console.error(`worker exited ${code} ${signal}: ${err}`);
  });
  children.push(child);
  return child;
}

async function dispatchCounts(n: number, input: Record<string, unknown> = {}) {
  // From SQL, as another language would: dispatch_many in one statement.
  await db.pool.query(`insert into pgdispatch.functions (name, retry_policy) values ('count', 'default') on conflict do nothing`);
  const { rows } = await db.pool.query('select pgdispatch.dispatch_many($1, $2::jsonb) as id', [
    'count',
    JSON.stringify(Array.from({ length: n }, () => input)),
  ]);
  return rows.map((r) => r.id as string);
}

const scalar = async (sql: string) => Number((await db.pool.query(sql)).rows[0].n);

describe('worker processes', () => {
  it('two worker processes split 2,000 calls, none run twice', async () => {
    await db.pool.query('truncate runs');
    const ids = await dispatchCounts(2_000);
    const a = startWorker();
    const b = startWorker();
    await eventually(async () => (await scalar(`select count(*) as n from pgdispatch.calls where status = 'succeeded'`)) === 2_000, {
      timeoutMs: 60_000,
      message: 'all 2,000 calls succeeded',
    });
    expect(await scalar('select count(*) as n from runs')).toBe(2_000);
    expect(await scalar('select count(distinct call_id) as n from runs')).toBe(2_000);
    expect(await scalar('select count(*) as n from pgdispatch.attempts')).toBe(2_000);
    const perPid = (await db.pool.query('select pid, count(*)::int as n from runs group by pid')).rows;
    expect(perPid).toHaveLength(2);
    for (const { n } of perPid) expect(n).toBeGreaterThan(100);
    expect(ids).toHaveLength(2_000);
    a.kill('SIGTERM');
    b.kill('SIGTERM');
    const [[codeA], [codeB]] = await Promise.all([once(a, 'exit'), once(b, 'exit')]);
    expect([codeA, codeB]).toEqual([0, 0]);
  });

  it('SIGTERM mid-run loses nothing: finished attempts are recorded, the rest run elsewhere', async () => {
    await db.pool.query('truncate runs');
    await db.pool.query('truncate pgdispatch.calls cascade');
    await dispatchCounts(300, { sleepMs: 300 });
    const a = startWorker({}, ['--grace-period', '2000']);
    await eventually(async () => (await scalar('select count(*) as n from runs')) >= 40);
    a.kill('SIGTERM');
    const [code] = await once(a, 'exit');
    expect(code).toBe(0);
    const afterStop = await scalar('select count(*) as n from runs');
    expect(afterStop).toBeLessThan(300);
    // Nothing is left locked by the stopped worker.
    expect(await scalar('select count(*) as n from graphile_worker._private_jobs where locked_at is not null')).toBe(0);

    startWorker();
    await eventually(async () => (await scalar(`select count(*) as n from pgdispatch.calls where status = 'succeeded'`)) === 300, {
      timeoutMs: 30_000,
    });
    // Every call ran exactly once: the stop let running attempts finish.
    expect(await scalar('select count(distinct call_id) as n from runs')).toBe(300);
    expect(await scalar('select count(*) as n from runs')).toBe(300);
    expect(await scalar(`select count(*) as n from pgdispatch.attempts where status <> 'ok'`)).toBe(0);
  });

  it('SIGTERM past the grace period releases unfinished attempts to run again at once', async () => {
    await db.pool.query('truncate runs');
    await db.pool.query('truncate pgdispatch.calls cascade');
    await dispatchCounts(20, { sleepMs: 20_000 });
    const a = startWorker({}, ['--grace-period', '300']);
    await eventually(async () => (await scalar('select count(*) as n from graphile_worker._private_jobs where locked_at is not null')) >= 20);
    const t0 = Date.now();
    a.kill('SIGTERM');
    const [code] = await once(a, 'exit');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(code).toBe(0);
    expect(await scalar('select count(*) as n from graphile_worker._private_jobs where locked_at is not null')).toBe(0);
    expect(await scalar(`select count(*) as n from graphile_worker._private_jobs where run_at <= now()`)).toBe(20);
    expect(await scalar(`select count(*) as n from pgdispatch.call_events where event = 'released'`)).toBe(20);
    expect(await scalar('select count(*) as n from pgdispatch.attempts')).toBe(0);
  });
});
