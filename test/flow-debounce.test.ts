import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatch } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let d: Dispatch;
const ran: unknown[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  d = db.dispatch();
  d.func('reindex', (input: unknown) => {
    ran.push(input);
    return null;
  });
  await d.migrate();
});
afterAll(() => db.drop());

const count = async (sql: string) => Number((await db.pool.query(sql)).rows[0].n);

describe('debounce', () => {
  it('100 dispatches with one key inside the window: one call, with the last input', async () => {
    const ids = [];
    for (let n = 0; n < 100; n++) {
      ids.push(
        await d.dispatch('reindex', { n }, { debounce: { key: 'search:products', delayMs: 800 } }),
      );
    }
    // Another key is its own burst.
    const other = await d.dispatch(
      'reindex',
      { other: true },
      { debounce: { key: 'search:users', delayMs: 800 } },
    );
    expect(new Set(ids).size).toBe(1);
    expect(other).not.toBe(ids[0]);
    expect(await count('select count(*) as n from pgdispatch.calls')).toBe(2);
    // Visible while it waits: the call, its start time, how many dispatches it stands for.
    const waiting = (
      await db.pool.query(
        `select d.key, d.call_id::text, d.dispatches, c.status, c.input, c.next_attempt_at > now() as later
           from pgdispatch.debounces d join pgdispatch.calls c on c.id = d.call_id where d.key = 'search:products'`,
      )
    ).rows;
    expect(waiting).toEqual([
      {
        key: 'search:products',
        call_id: ids[0],
        dispatches: 100,
        status: 'pending',
        input: { n: 99 },
        later: true,
      },
    ]);
    const worker = await d.worker({ concurrency: 5, retention: false, schedules: false });
    try {
      await eventually(
        async () =>
          (await count(`select count(*) as n from pgdispatch.calls where status = 'succeeded'`)) ===
          2,
        {
          message: 'both calls ran',
        },
      );
      expect(ran).toContainEqual({ n: 99 });
      expect(ran).toHaveLength(2);
      // After the window, the same key starts a new burst.
      const next = await d.dispatch(
        'reindex',
        { n: 100 },
        { debounce: { key: 'search:products', delayMs: 50 } },
      );
      expect(next).not.toBe(ids[0]);
      await eventually(async () => ran.length === 3, { message: 'the next burst ran' });
      expect(ran.at(-1)).toEqual({ n: 100 });
    } finally {
      await worker.stop();
    }
  });

  it('refuses a bad key or delay, writing nothing', async () => {
    const before = await count('select count(*) as n from pgdispatch.calls');
    for (const debounce of [
      { key: '', delayMs: 100 },
      { key: 'k', delayMs: 0 },
      { key: 'k', delayMs: -1 },
    ]) {
      await expect(d.dispatch('reindex', {}, { debounce })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
      });
    }
    await expect(
      db.pool.query(
        `select pgdispatch.dispatch_debounced('reindex', '{}', '{"debounce_key":"k","debounce_ms":0}')`,
      ),
    ).rejects.toMatchObject({ code: 'PD003' });
    expect(await count('select count(*) as n from pgdispatch.calls')).toBe(before);
    expect(await count(`select count(*) as n from pgdispatch.debounces where key = 'k'`)).toBe(0);
  });
});
