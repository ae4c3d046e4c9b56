/**
 * A burst of webhooks to one origin, over its per-origin limit: the calls the
 * worker sends back to the queue come back when their turn is due (not at
 * the next poll, here a minute away), the origin never has more than its
 * limit in flight, and waiting for a slot is never an attempt.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Dispatch, WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { type Receiver, startReceiver } from './support/receiver.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
let receiver: Receiver;
let inFlight = 0;
let maxInFlight = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch({ webhook: { allow: ['127.0.0.1/32'], perOriginConcurrency: 2 } });
  await dispatch.migrate();
  receiver = await startReceiver(async (_req, _n, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, 30));
    inFlight--;
    res.end('ok');
  });
  worker = await dispatch.worker({ concurrency: 8, pollIntervalMs: 60_000 });
});

afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await dispatch?.close();
  await db?.drop();
});

it('a burst over the per-origin limit is delivered as slots free up, not at the next poll', async () => {
  const ids = await dispatch.webhook.dispatchMany(
    Array.from({ length: 40 }, (_, n) => ({ url: receiver.url, body: { n } })),
  );
  // Well before the poll (60 s): snoozed calls wake the worker when due.
  await eventually(async () => receiver.requests.length === 40, { timeoutMs: 30_000 });
  expect(maxInFlight).toBeLessThanOrEqual(2);
  await eventually(async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      `select count(*)::int as n from pgdispatch.calls where id = any($1::bigint[]) and status = 'succeeded'`,
      [ids],
    );
    return rows[0]!.n === 40;
  });
  const { rows } = await db.pool.query<{ n: number }>(
    'select count(*)::int as n from pgdispatch.attempts where call_id = any($1::bigint[])',
    [ids],
  );
  expect(rows[0]!.n).toBe(40);
});
