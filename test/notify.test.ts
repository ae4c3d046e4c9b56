/**
 * Wake-up notifications: coalesced (`notifyIntervalMs`) and none
 * (`pollOnly`), counted by a LISTEN connection of the test's own, with a
 * worker that must still run every call.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let listener: pg.Client;
const payloads: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (n) => payloads.push(n.payload ?? ''));
  await listener.query('listen "jobs:insert"');
});
afterAll(async () => {
  await listener?.end();
  await db?.drop();
});

const succeeded = async (ids: string[]) =>
  (
    await db.pool.query(
      `select count(*)::int as n from pgdispatch.calls where id = any($1::bigint[]) and status = 'succeeded'`,
      [ids],
    )
  ).rows[0].n as number;

async function settle(): Promise<void> {
  // Notifications of committed transactions arrive before this round trip ends.
  await listener.query('select 1');
}

describe('wake-up notifications', () => {
  it('every dispatch notifies by default', async () => {
    const d = db.dispatch();
    const fn = d.func('plain', () => undefined);
    payloads.length = 0;
    for (let i = 0; i < 5; i++) await fn.dispatch({ i });
    await fn.dispatchMany([{}, {}]);
    await settle();
    expect(payloads).toHaveLength(6);
    expect(payloads.every((p) => !p.includes('window'))).toBe(true);
  });

  it('notifyIntervalMs: one notification per interval, and the worker still runs every call at once', async () => {
    const d = db.dispatch({ notifyIntervalMs: 300 });
    const ran: number[] = [];
    const fn = d.func('coalesced', (input: { i: number }) => {
      ran.push(input.i);
    });
    // A minute's poll: only notifications and the claim after each window can find the calls.
    const worker = await d.worker({ pollIntervalMs: 60_000, retention: false });
    try {
      payloads.length = 0;
      const t0 = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        ids.push(await fn.dispatch({ i }));
        await new Promise((r) => setTimeout(r, 10));
      }
      const spanMs = Date.now() - t0;
      await eventually(async () => (await succeeded(ids)) === ids.length, {
        timeoutMs: 5_000,
        message: 'every coalesced call ran without a poll',
      });
      await settle();
      // 20 dispatches over spanMs: at most one notification per 300 ms window.
      expect(payloads.length).toBeGreaterThanOrEqual(1);
      expect(payloads.length).toBeLessThanOrEqual(Math.ceil(spanMs / 300) + 1);
      expect(payloads.every((p) => JSON.parse(p).window === 300)).toBe(true);
      expect(ran.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    } finally {
      await worker.stop();
    }
  });

  it('pollOnly: no notification, no LISTEN, the poll finds the calls', async () => {
    const d = db.dispatch({ pollOnly: true });
    const fn = d.func('polled', () => undefined);
    const worker = await d.worker({ pollIntervalMs: 200, retention: false });
    try {
      const { rows } = await db.pool.query(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and query ilike 'listen %' and pid <> $1`,
        [(listener as unknown as { processID: number }).processID],
      );
      expect(rows[0].n).toBe(0);
      payloads.length = 0;
      const ids = [await fn.dispatch({}), ...(await fn.dispatchMany([{}, {}]))];
      await eventually(async () => (await succeeded(ids)) === 3, { timeoutMs: 5_000 });
      await settle();
      expect(payloads).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  it('from SQL: notify false, true or a window; anything else is refused', async () => {
    await db.pool.query(
      `insert into pgdispatch.functions (name, retry_policy) values ('sql_fn', 'default') on conflict do nothing`,
    );
    payloads.length = 0;
    await db.pool.query(`select pgdispatch.dispatch('sql_fn', '{}', '{"notify": false}')`);
    await db.pool.query(`select pgdispatch.dispatch('sql_fn', '{}', '{"notify": true}')`);
    await db.pool.query(`select pgdispatch.dispatch_many('sql_fn', '[{}, {}]', '{"notify": 50}')`);
    await settle();
    expect(payloads.map((p) => JSON.parse(p))).toEqual([
      { r: expect.any(Number), count: 1 },
      { r: expect.any(Number), count: 2, window: 50 },
    ]);
    await expect(
      db.pool.query(`select pgdispatch.dispatch('sql_fn', '{}', '{"notify": "soon"}')`),
    ).rejects.toMatchObject({ code: 'PD003' });
  });
});
