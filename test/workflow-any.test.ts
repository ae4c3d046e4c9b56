/**
 * ctx.any: the first child to succeed wins, and the parent wakes once, when
 * it can decide: at the first success (a failure before it only counts
 * down), or when every child failed. Children it no longer awaits (the
 * losers, still running when it went on to wait for something else) finish
 * their steps and wake nothing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dispatch, PermanentError } from '../src/index.js';
import type { WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch();
  const boom = dispatch.func('boom', () => {
    throw new PermanentError('no');
  });
  const later = dispatch.func('later', async (n: number) => {
    await new Promise((r) => setTimeout(r, n));
    return n;
  });
  dispatch.workflow('race', async (_input: unknown, ctx) =>
    ctx.any([ctx.call(boom, {}), ctx.call(later, 400)]),
  );
  dispatch.workflow('all-fail', async (_input: unknown, ctx) => {
    try {
      return await ctx.any([ctx.call(boom, {}), ctx.call(boom, {}, { name: 'boom2' })]);
    } catch {
      return 'all failed';
    }
  });
  // The fast child wins; the parent then waits for a signal while the two
  // slow ones finish.
  dispatch.workflow('race-then-wait', async (input: { key: string }, ctx) => {
    const first = await ctx.any([
      ctx.call(later, 50),
      ctx.call(later, 300, { name: 'slow' }),
      ctx.call(later, 400, { name: 'slower' }),
    ]);
    const got = await ctx.waitFor('go', { key: input.key });
    return { first, got };
  });
  await dispatch.migrate();
  worker = await dispatch.worker({ concurrency: 4, pollIntervalMs: 100 });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

async function finished(id: string) {
  return eventually(async () => {
    const got = (await dispatch.getCall(id))!;
    return ['succeeded', 'failed', 'cancelled'].includes(got.status) && got;
  });
}

async function runs(id: string): Promise<string[]> {
  const { rows } = await db.pool.query(
    'select status from pgdispatch.attempts where call_id = $1 order by attempt',
    [id],
  );
  return rows.map((a) => a.status);
}

async function wakes(id: string): Promise<string[]> {
  const { rows } = await db.pool.query(
    `select reason from pgdispatch.call_events where call_id = $1 and event = 'woken' order by id`,
    [id],
  );
  return rows.map((e) => e.reason);
}

it('returns the first success, woken once: a failure before it does not wake the parent', async () => {
  const id = await dispatch.dispatch('race', {});
  const c = await finished(id);
  expect(c.status).toBe('succeeded');
  expect(c.output).toBe(400);
  const { rows: steps } = await db.pool.query(
    'select name, status from pgdispatch.steps where call_id = $1 order by seq',
    [id],
  );
  expect(steps).toEqual([
    { name: 'boom', status: 'failed' },
    { name: 'later', status: 'succeeded' },
  ]);
  expect(await runs(id)).toEqual(['suspended', 'ok']);
  expect(await wakes(id)).toHaveLength(1);
});

it('wakes once when every child failed, and the body catches it', async () => {
  const id = await dispatch.dispatch('all-fail', {});
  const c = await finished(id);
  expect(c.status).toBe('succeeded');
  expect(c.output).toBe('all failed');
  // One run after the first: woken by the last failure, or, when both failed
  // before the first run's suspension was recorded, by that suspension.
  expect(await runs(id)).toEqual(['suspended', 'ok']);
  expect((await wakes(id)).length).toBeLessThanOrEqual(1);
});

it('children it no longer awaits finish their steps and wake nothing', async () => {
  const key = `any-then-wait:${Date.now()}`;
  const id = await dispatch.dispatch('race-then-wait', { key });
  // Both losers end while the parent waits for the signal.
  await eventually(async () => {
    const { rows } = await db.pool.query(
      `select count(*)::int as n from pgdispatch.steps
        where call_id = $1 and kind = 'call' and status = 'succeeded'`,
      [id],
    );
    return rows[0].n === 3;
  });
  await new Promise((r) => setTimeout(r, 300));
  const waiting = (await dispatch.getCall(id))!;
  expect(waiting.status).toBe('waiting');
  expect(await runs(id)).toEqual(['suspended', 'suspended']);
  await dispatch.signal(key, { go: true });
  const c = await finished(id);
  expect(c.output).toEqual({ first: 50, got: { go: true } });
  expect(await runs(id)).toEqual(['suspended', 'suspended', 'ok']);
  const reasons = await wakes(id);
  expect(reasons).toHaveLength(2);
  expect(reasons[1]).toBe(`signal ${key}`);
});
