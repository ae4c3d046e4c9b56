/**
 * SIGTERM with attempts in flight: the worker gives the running attempts its
 * grace period, then aborts and releases them (history says `released`),
 * unregisters and exits 0; the next worker runs them. Nothing is lost.
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

const CALLS = 30;
const CONCURRENCY = 10;

let db: TestDatabase;
let dispatch: Dispatch;
let receiver: CountingReceiver;
let slow = true;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch();
  dispatch.func('deliver', () => undefined);
  receiver = await startCountingReceiver(async (_hit, _req, res) => {
    // While `slow`, hold every request far past the grace period.
    if (slow) await new Promise((r) => setTimeout(r, 10_000));
    if (!res.destroyed) res.end('ok');
  });
});

afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await receiver?.close();
  await db?.drop();
});

const count = async (sql: string) =>
  Number((await db.pool.query<{ n: string }>(`select count(*) as n from (${sql}) q`)).rows[0]!.n);

it('SIGTERM releases attempts in flight; the next worker runs them', async () => {
  const env = { DATABASE_URL: db.url, RECEIVER_URL: receiver.url, LOG_LEVEL: 'warn' };
  const a = spawnWorker(['--concurrency', String(CONCURRENCY), '--grace-period', '300'], env);
  workers.push(a);
  await dispatch.dispatchMany(
    'deliver',
    Array.from({ length: CALLS }, (_, n) => n),
  );
  await eventually(async () => receiver.hits.length >= CONCURRENCY, {
    timeoutMs: 15_000,
    message: `attempts in flight\n${a.output()}`,
  });
  const inFlight = new Set(receiver.hits.map((h) => h.callId));
  const termAt = Date.now();
  a.child.kill('SIGTERM');
  expect(await a.exited).toBe(0);
  const stopMs = Date.now() - termAt;

  const released = (
    await db.pool.query<{ call_id: string; attempt: number }>(
      `select call_id::text, attempt from pgdispatch.call_events where event = 'released'`,
    )
  ).rows;
  expect(new Set(released.map((r) => r.call_id))).toEqual(inFlight);
  expect(released.every((r) => r.attempt === 1)).toBe(true);
  expect(await count('select 1 from pgdispatch.attempts')).toBe(0);
  expect(
    await count('select 1 from graphile_worker._private_jobs where locked_by is not null'),
  ).toBe(0);
  expect(await count('select 1 from pgdispatch.workers')).toBe(0); // a clean stop unregisters

  slow = false;
  const b = spawnWorker(['--concurrency', String(CONCURRENCY)], env);
  workers.push(b);
  await eventually(
    async () =>
      (await count(`select 1 from pgdispatch.calls where status = 'succeeded'`)) === CALLS,
    {
      timeoutMs: 20_000,
      message: `all calls succeeded\n${b.output()}`,
    },
  );
  expect(await count('select 1 from pgdispatch.attempts where attempt = 1')).toBe(CALLS);
  const id = [...inFlight][0]!;
  expect((await dispatch.getHistory(id)).map((h) => h.event)).toEqual([
    'dispatched',
    'released',
    'attempt',
  ]);
  console.log(
    `shutdown: SIGTERM with ${inFlight.size} attempts in flight; exited 0 after ${stopMs} ms (grace 300 ms); ${released.length} released and run again`,
  );
}, 60_000);
