/**
 * Concurrency limits per key across worker processes: 300 calls over 3 keys
 * with limit 2, on 4 workers of concurrency 20. Each call records when it
 * started and ended; no more than 2 of a key may overlap, all finish, and
 * calls without a key are not held back behind the waiting ones.
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
  d.func('span', () => null);
  await d.migrate();
});
afterEach(() => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
});
afterAll(() => db.drop());

interface Span {
  call_id: string;
  key: string | null;
  started_at: Date;
  ended_at: Date;
}

/** The most spans open at one instant. */
function maxOverlap(spans: Span[]): number {
  const edges = spans.flatMap((s) => [
    [s.started_at.getTime(), 1],
    [s.ended_at.getTime(), -1],
  ]);
  // Ends before starts at the same millisecond: a slot freed and retaken.
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let open = 0;
  let max = 0;
  for (const [, delta] of edges) {
    open += delta!;
    max = Math.max(max, open);
  }
  return max;
}

describe('concurrency limit per key', () => {
  it('300 calls over 3 keys, limit 2, 4 workers of 20: never more than 2 of a key at once', async () => {
    const keys = ['tenant:1', 'tenant:2', 'tenant:3'];
    for (let i = 0; i < 300; i++) {
      const key = keys[i % 3]!;
      await d.dispatch('span', { key, sleepMs: 40 }, { concurrency: { key, limit: 2 } });
    }
    // Visible in SQL before any worker runs: 2 of each key hold a slot, 98 wait.
    const state = (
      await db.pool.query(
        'select key, concurrency_limit, running, waiting from pgdispatch.flow_state order by key',
      )
    ).rows;
    expect(state).toEqual(
      keys.map((key) => ({ key, concurrency_limit: 2, running: 2, waiting: 98 })),
    );
    expect(
      Number(
        (await db.pool.query(`select count(*) as n from pgdispatch.calls where job_id is null`))
          .rows[0].n,
      ),
    ).toBe(294);

    for (let i = 0; i < 4; i++) {
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
    // Calls without a key, dispatched behind the 294 waiting ones.
    await eventually(
      async () => Number((await db.pool.query('select count(*) as n from spans')).rows[0].n) >= 6,
      {
        message: 'workers started',
        timeoutMs: 30_000,
      },
    );
    const freeAt = Date.now();
    await d.dispatchMany(
      'span',
      Array.from({ length: 40 }, () => ({ sleepMs: 40 })),
    );

    await eventually(
      async () =>
        Number((await db.pool.query('select count(*) as n from spans')).rows[0].n) === 340,
      { message: 'all 340 calls ran', timeoutMs: 90_000, intervalMs: 200 },
    );
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));

    const spans = (
      await db.pool.query<Span>('select call_id::text, key, started_at, ended_at from spans')
    ).rows;
    expect(new Set(spans.map((s) => s.call_id)).size).toBe(340);
    for (const key of keys) {
      const mine = spans.filter((s) => s.key === key);
      expect(mine).toHaveLength(100);
      expect(maxOverlap(mine), key).toBe(2);
    }
    // The keys ran side by side: at some instant more than one key was running.
    expect(maxOverlap(spans.filter((s) => s.key !== null))).toBeGreaterThan(2);
    // Calls without a key did not wait for the keyed backlog.
    const free = spans.filter((s) => s.key === null);
    const keyedEnd = Math.max(
      ...spans.filter((s) => s.key !== null).map((s) => s.ended_at.getTime()),
    );
    expect(Math.max(...free.map((s) => s.ended_at.getTime()))).toBeLessThan(keyedEnd);
    expect(Math.max(...free.map((s) => s.ended_at.getTime())) - freeAt).toBeLessThan(3_000);
    const after = (
      await db.pool.query(
        `select (select count(*) from pgdispatch.flow_slots)::int as slots,
                (select count(*) from pgdispatch.flow_waits)::int as waits,
                (select count(*) from pgdispatch.calls where status <> 'succeeded')::int as unfinished`,
      )
    ).rows[0];
    expect(after).toEqual({ slots: 0, waits: 0, unfinished: 0 });
  });

  it('refuses a limit of 0 or -1 and a bad key, writing nothing', async () => {
    const before = Number(
      (await db.pool.query('select count(*) as n from pgdispatch.calls')).rows[0].n,
    );
    for (const concurrency of [
      { key: 'k', limit: 0 },
      { key: 'k', limit: -1 },
      { key: 'k', limit: 1.5 },
      { key: '', limit: 1 },
    ]) {
      await expect(d.dispatch('span', {}, { concurrency })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
      });
    }
    expect(() => d.func('limited', () => null, { concurrency: { key: 'k', limit: 0 } })).toThrow(
      /concurrency limit must be an integer >= 1/,
    );
    // From SQL too.
    for (const options of [
      { concurrency_key: 'k', concurrency_limit: 0 },
      { concurrency_key: 'k' },
    ]) {
      await expect(
        db.pool.query(`select pgdispatch.dispatch_keyed('span', '{}', $1)`, [
          JSON.stringify(options),
        ]),
      ).rejects.toMatchObject({ code: 'PD003' });
    }
    expect(
      Number((await db.pool.query('select count(*) as n from pgdispatch.calls')).rows[0].n),
    ).toBe(before);
  });
});
