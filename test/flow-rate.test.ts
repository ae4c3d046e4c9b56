/**
 * Rate limit per key across worker processes: 20 starts a second on one
 * key, 200 calls, 3 workers. Starts must spread over about 10 s, and the
 * n-th start never come before n/20 s after the first: no burst ahead of
 * the rate, whichever worker claims.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatch } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { spawnWorker, type WorkerProcess } from './support/processes.js';

let db: TestDatabase;
let d: Dispatch;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    'create table spans (call_id bigint, key text, started_at timestamptz, ended_at timestamptz, pid int)',
  );
  d = db.dispatch();
  d.func('span', () => null, { rateLimit: { key: 'endpoint:acme', limit: 20, intervalMs: 1_000 } });
  await d.migrate();
});
afterEach(() => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
});
afterAll(() => db.drop());

describe('rate limit per key', () => {
  it('20/s on a key, 200 calls, 3 workers: starts spread over ~10 s, none early', async () => {
    for (let i = 0; i < 3; i++) {
      workers.push(
        spawnWorker(
          [
            '--module',
            'test/fixtures/flow-functions.mjs',
            '--concurrency',
            '20',
            '--retention',
            'off',
          ],
          {
            DATABASE_URL: db.url,
            LOG_LEVEL: 'warn',
          },
        ),
      );
    }
    await eventually(
      async () =>
        Number((await db.pool.query('select count(*) as n from pgdispatch.workers')).rows[0].n) ===
        3,
      { message: 'workers up', timeoutMs: 30_000 },
    );
    const t0 = Date.now();
    for (let i = 0; i < 200; i++) await d.dispatch('span', { key: 'endpoint:acme' });
    // Waiting calls are visible: each has its start time ahead, no attempt spent, no worker held.
    const waiting = Number(
      (
        await db.pool.query(
          `select count(*) as n from pgdispatch.calls where next_attempt_at > now() and attempts = 0`,
        )
      ).rows[0].n,
    );
    expect(waiting).toBeGreaterThan(100);
    await eventually(
      async () =>
        Number((await db.pool.query('select count(*) as n from spans')).rows[0].n) === 200,
      { message: 'all 200 ran', timeoutMs: 60_000, intervalMs: 250 },
    );
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));

    const starts = (
      await db.pool.query<{ started_at: Date }>('select started_at from spans order by started_at')
    ).rows.map((r) => r.started_at.getTime());
    const first = starts[0]!;
    // The first call's start time was its dispatch (the key had no start
    // planned yet); the n-th may start n × 50 ms after it, not before.
    const planned0 = (
      await db.pool.query<{ at: Date }>(
        'select created_at as at from pgdispatch.calls order by id limit 1',
      )
    ).rows[0]!.at.getTime();
    expect(planned0).toBeGreaterThanOrEqual(t0 - 50);
    for (const [n, t] of starts.entries())
      expect(t - planned0, `start ${n}`).toBeGreaterThanOrEqual(n * 50 - 2);
    const spread = starts.at(-1)! - first;
    expect(spread).toBeGreaterThanOrEqual(9_900);
    expect(spread).toBeLessThan(13_000);
    // No attempt was spent waiting.
    expect(
      Number((await db.pool.query('select max(attempts) as n from pgdispatch.calls')).rows[0].n),
    ).toBe(1);
  });

  it('refuses a rate interval of 0, a limit of 0 or -1, writing nothing', async () => {
    const before = Number(
      (await db.pool.query('select count(*) as n from pgdispatch.calls')).rows[0].n,
    );
    for (const rateLimit of [
      { key: 'k', limit: 5, intervalMs: 0 },
      { key: 'k', limit: 0, intervalMs: 1000 },
      { key: 'k', limit: -1, intervalMs: 1000 },
      { key: 'k', limit: 5, intervalMs: Number.NaN },
    ]) {
      await expect(d.dispatch('span', {}, { rateLimit })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
      });
    }
    expect(() =>
      d.func('r0', () => null, { rateLimit: { key: 'k', limit: 1, intervalMs: 0 } }),
    ).toThrow(/intervalMs must be a positive number/);
    expect(
      Number((await db.pool.query('select count(*) as n from pgdispatch.calls')).rows[0].n),
    ).toBe(before);
  });
});
