/**
 * A worker killed with SIGKILL in the middle of 2,000 deliveries: a second
 * worker notices the missed heartbeats, records `worker_lost` in the history
 * of each call the dead one held and releases them. Every call succeeds; a
 * call is delivered twice only if it was in flight at the kill.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Dispatch } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import {
  type CountingReceiver,
  spawnWorker,
  startCountingReceiver,
  type WorkerProcess,
} from './support/processes.js';

const CALLS = 2_000;
const CONCURRENCY = 20;
const RESCUE_AFTER_MS = 3_000;

let db: TestDatabase;
let dispatch: Dispatch;
let receiver: CountingReceiver;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('fast', '{100ms}', 10)`,
  );
  dispatch = db.dispatch();
  dispatch.func('deliver', () => undefined, { retryPolicy: 'fast' });
  receiver = await startCountingReceiver(undefined, 5);
});

afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await receiver?.close();
  await db?.drop();
});

const count = async (sql: string, values: unknown[] = []) =>
  Number(
    (await db.pool.query<{ n: string }>(`select count(*) as n from (${sql}) q`, values)).rows[0]!.n,
  );

it('rescues the calls of a killed worker within the threshold, none lost', async () => {
  const env = {
    DATABASE_URL: db.url,
    RECEIVER_URL: receiver.url,
    RETRY_POLICY: 'fast',
    LOG_LEVEL: 'warn',
  };
  const flags = [
    '--concurrency',
    String(CONCURRENCY),
    '--heartbeat-interval',
    '500ms',
    '--rescue-after',
    `${RESCUE_AFTER_MS}ms`,
  ];
  const a = spawnWorker(flags, env);
  workers.push(a);
  const aId = await eventually(
    async () => (await db.pool.query('select id from pgdispatch.workers')).rows[0]?.id as string,
    {
      timeoutMs: 15_000,
      message: `worker A registered\n${a.output()}`,
    },
  );

  const started = Date.now();
  await dispatch.dispatchMany(
    'deliver',
    Array.from({ length: CALLS }, (_, n) => ({ n })),
  );
  await eventually(
    async () =>
      (await count(`select 1 from pgdispatch.calls where status = 'succeeded'`)) >= CALLS / 4,
    {
      timeoutMs: 30_000,
      intervalMs: 10,
      message: 'worker A made progress',
    },
  );
  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  expect(await a.exited).toBe('SIGKILL');

  // What A held at its death: started attempts and its local queue.
  const held = (
    await db.pool.query<{ call_id: string }>(
      `select (payload->>'id') as call_id from graphile_worker._private_jobs where locked_by = $1`,
      [aId],
    )
  ).rows.map((r) => r.call_id);
  const succeededAtKill = await count(`select 1 from pgdispatch.calls where status = 'succeeded'`);
  expect(held.length).toBeGreaterThan(0);

  const b = spawnWorker(flags, env);
  workers.push(b);
  await eventually(
    async () =>
      (await count(`select 1 from pgdispatch.calls where status = 'succeeded'`)) === CALLS,
    {
      timeoutMs: 45_000,
      intervalMs: 100,
      message: `all calls succeeded\n${b.output()}`,
    },
  );
  const total = Date.now() - started;

  // Every call succeeded with exactly one recorded attempt.
  expect(
    await count(`select 1 from pgdispatch.calls where status = 'succeeded' and attempts = 1`),
  ).toBe(CALLS);
  expect(await count('select 1 from pgdispatch.attempts')).toBe(CALLS);
  expect(await count('select 1 from graphile_worker._private_jobs')).toBe(0);

  // Each held call says so in its history, once.
  const lost = (
    await db.pool.query<{ call_id: string; at: Date; actor: string; reason: string }>(
      `select call_id::text, at, actor, reason from pgdispatch.call_events where event = 'worker_lost'`,
    )
  ).rows;
  expect(lost.map((l) => l.call_id).sort()).toEqual([...held].sort());
  expect(new Set(lost.map((l) => l.actor)).size).toBe(1);
  expect(lost[0]!.reason).toContain(aId);
  const history = await dispatch.getHistory(held[0]!);
  expect(history.map((h) => h.event)).toEqual(['dispatched', 'worker_lost', 'attempt']);

  // Resumed within the threshold plus a few seconds.
  const rescuedAt = Math.min(...lost.map((l) => l.at.getTime()));
  const { rows } = await db.pool.query<{ last: Date }>(
    `select max(finished_at) as last from pgdispatch.attempts where call_id = any($1::bigint[])`,
    [held],
  );
  const resumeMs = rows[0]!.last.getTime() - killedAt;
  expect(rescuedAt - killedAt).toBeLessThan(RESCUE_AFTER_MS + 5_000);
  expect(resumeMs).toBeLessThan(RESCUE_AFTER_MS + 8_000);

  // Duplicates only for calls the dead worker held: at most its running
  // attempts plus as many finished ones whose outcome was not yet committed.
  const perCall = new Map<string, number>();
  for (const h of receiver.hits) perCall.set(h.callId, (perCall.get(h.callId) ?? 0) + 1);
  expect(perCall.size).toBe(CALLS);
  const twice = [...perCall].filter(([, n]) => n > 1).map(([id]) => id);
  const heldSet = new Set(held);
  for (const id of twice) expect(heldSet.has(id)).toBe(true);
  expect(twice.length).toBeLessThanOrEqual(CONCURRENCY + Math.max(4 * CONCURRENCY, 50));
  expect(Math.max(...perCall.values())).toBeLessThanOrEqual(2);

  // The dead worker's row is gone; B's is there.
  const ids = (await db.pool.query<{ id: string }>('select id from pgdispatch.workers')).rows.map(
    (r) => r.id,
  );
  expect(ids).not.toContain(aId);
  expect(ids).toHaveLength(1);

  console.log(
    `rescue: ${CALLS} calls in ${total} ms; killed A after ${succeededAtKill} succeeded holding ${held.length} job(s); ` +
      `rescued ${rescuedAt - killedAt} ms after the kill (threshold ${RESCUE_AFTER_MS} ms); ` +
      `lost calls done ${resumeMs} ms after the kill; ${twice.length} delivered twice`,
  );
}, 90_000);
