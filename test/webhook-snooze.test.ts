/**
 * A burst of webhooks to one origin, over its per-origin limit: the calls the
 * worker sends back to the queue come back when their turn is due (not at
 * the next poll, here a minute away), the origin never has more than its
 * limit in flight, and waiting for a slot is never an attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatch, WorkerHandle } from '../src/index.js';
import { OriginLimiter } from '../src/webhook/origin-limiter.js';
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

describe('OriginLimiter', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('spaces the calls it sends away by the hold time over the limit, from at least minMs', () => {
    const limiter = new OriginLimiter(4);
    // No hold time known yet: minMs stands in for it (spacing 100 / 4 = 25 ms).
    const first = limiter.comeBackIn('http://a', 100);
    const second = limiter.comeBackIn('http://a', 100);
    const third = limiter.comeBackIn('http://a', 100);
    expect(first).toBeGreaterThanOrEqual(124);
    expect(first).toBeLessThanOrEqual(126);
    // 25 ms apart (more only if this process stalled between the calls).
    expect(second - first).toBeGreaterThanOrEqual(24);
    expect(third - second).toBeGreaterThanOrEqual(24);
    expect(third - first).toBeLessThan(100);
    // Another origin has its own schedule.
    expect(limiter.comeBackIn('http://b', 100)).toBeLessThanOrEqual(126);
  });

  it('lets a call wait for a slot only for an origin whose requests are known to be quick, and only a few', async () => {
    const limiter = new OriginLimiter(4);
    expect(limiter.worthWaiting('http://quick', 50)).toBe(false); // nothing known yet
    for (let i = 0; i < 3; i++) (await limiter.acquire('http://quick'))();
    expect(limiter.worthWaiting('http://quick', 50)).toBe(true);

    const slow = await limiter.acquire('http://slow');
    await sleep(80);
    slow();
    expect(limiter.worthWaiting('http://slow', 50)).toBe(false);
    expect(limiter.worthWaiting('http://slow', 500)).toBe(true);

    // Saturate the quick origin; two waiters (half the limit) are enough.
    const held = await Promise.all([1, 2, 3, 4].map(() => limiter.acquire('http://quick')));
    const waiting = [limiter.acquire('http://quick'), limiter.acquire('http://quick')];
    expect(limiter.worthWaiting('http://quick', 50)).toBe(false);
    for (const release of held) release();
    for (const release of await Promise.all(waiting)) release();
    expect(limiter.active('http://quick')).toBe(0);
  });
});
