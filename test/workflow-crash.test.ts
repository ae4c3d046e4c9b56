/**
 * A worker SIGKILLed in the middle of 500 ten-step workflows: a second
 * worker rescues them and finishes every one. No step whose row committed
 * runs again (each plain step's run is logged with its process), and each
 * tx step's effect is applied exactly once.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Dispatch } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { CLI, ROOT, type WorkerProcess } from './support/processes.js';

const CALLS = 500;
const CONCURRENCY = 50;

let db: TestDatabase;
let dispatch: Dispatch;
const workers: WorkerProcess[] = [];

function spawnWorkflowWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'worker',
      '--module',
      'test/fixtures/workflow-functions.mjs',
      '--concurrency',
      String(CONCURRENCY),
      '--heartbeat-interval',
      '500ms',
      '--rescue-after',
      '2s',
    ],
    {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1));
  });
  const w = { child, output: () => out, exited };
  workers.push(w);
  return w;
}

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(`create table step_runs (call_id bigint, seq int, run text, pid int);
                       create table tx_effects (call_id bigint)`);
  dispatch = db.dispatch();
  dispatch.workflow('ten', async () => undefined);
});

afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await db?.drop();
});

const one = async <T>(sql: string, values: unknown[] = []) =>
  (await db.pool.query(sql, values)).rows[0] as T;

it('finishes every workflow after a SIGKILL, no committed step run twice, tx effects once', async () => {
  const env = { DATABASE_URL: db.url, STEP_MS: '3' };
  const a = spawnWorkflowWorker(env);
  await eventually(
    async () => (await db.pool.query('select id from pgdispatch.workers')).rows.length === 1,
    { timeoutMs: 15_000, message: `worker A registered\n${a.output()}` },
  );
  await dispatch.dispatchMany(
    'ten',
    Array.from({ length: CALLS }, (_, n) => ({ n })),
  );
  // Killed once 40 % of the steps are recorded: most workflows are midway.
  await eventually(
    async () =>
      (await one<{ n: number }>('select count(*)::int as n from pgdispatch.steps')).n >= CALLS * 4,
    { timeoutMs: 60_000, intervalMs: 10, message: `worker A made progress\n${a.output()}` },
  );
  a.child.kill('SIGKILL');
  expect(await a.exited).toBe('SIGKILL');
  const pidA = a.child.pid;
  const atKill = await one<{ steps: number; done: number; midway: number }>(
    `select (select count(*)::int from pgdispatch.steps) as steps,
            (select count(*)::int from pgdispatch.calls where status = 'succeeded') as done,
            (select count(distinct call_id)::int from pgdispatch.steps s
              where not exists (select from pgdispatch.calls c
                                 where c.id = s.call_id and c.status = 'succeeded')) as midway`,
  );
  expect(atKill.done).toBeLessThan(CALLS);
  expect(atKill.midway).toBeGreaterThan(0);

  const b = spawnWorkflowWorker(env);
  await eventually(
    async () =>
      (
        await one<{ n: number }>(
          `select count(*)::int as n from pgdispatch.calls where status = 'succeeded'`,
        )
      ).n === CALLS,
    { timeoutMs: 90_000, intervalMs: 100, message: `all workflows succeeded\n${b.output()}` },
  );

  // Every workflow: ten steps, all succeeded, and its output.
  const shape = await one<{ bad: number }>(
    `select count(*)::int as bad from pgdispatch.calls c
      where c.output is distinct from '"done"'
         or (select count(*) from pgdispatch.steps s where s.call_id = c.id and s.status = 'succeeded') <> 10`,
  );
  expect(shape.bad).toBe(0);
  // Exactly one tx effect per workflow.
  const effects = await one<{ n: number; calls: number }>(
    'select count(*)::int as n, count(distinct call_id)::int as calls from tx_effects',
  );
  expect(effects).toEqual({ n: CALLS, calls: CALLS });
  // The second worker never ran a step whose result had been recorded: each
  // of its runs is the one the step row holds. Steps run twice were in
  // flight at the kill, at most one per slot.
  const rerun = await one<{ n: number }>(
    `select count(*)::int as n from step_runs r
       join pgdispatch.steps s on s.call_id = r.call_id and s.seq = r.seq
      where r.pid <> $1 and s.output <> to_jsonb(r.run)`,
    [pidA],
  );
  expect(rerun.n).toBe(0);
  const twice = await one<{ n: number }>(
    `select count(*)::int as n from (select 1 from step_runs group by call_id, seq having count(*) > 1) d`,
  );
  expect(twice.n).toBeLessThanOrEqual(CONCURRENCY);
  expect(
    (await one<{ n: number }>('select count(*)::int as n from graphile_worker._private_jobs')).n,
  ).toBe(0);
});
