/**
 * Retrying a failed or cancelled workflow (dispatch.retry, `pgdispatch
 * retry`) runs again from its first step that did not succeed: the steps
 * before it replay from their rows, that step and the later ones run anew.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dispatch, PermanentError } from '../src/index.js';
import type { WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
let fixed = false;
const runs = new Map<string, number>();
const bump = (k: string) => runs.set(k, (runs.get(k) ?? 0) + 1);

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create table effects (call_id bigint, step text)');
  dispatch = db.dispatch();
  dispatch.workflow('fragile', async (_input: unknown, ctx) => {
    const a = await ctx.tx('a', async (tx) => {
      bump('a');
      await tx.query(`insert into effects values ($1, 'a')`, [ctx.callId]);
      return 1;
    });
    const b = await ctx.step('b', () => {
      bump('b');
      if (!fixed) throw new PermanentError('b is broken');
      return 2;
    });
    return a + b;
  });
  dispatch.workflow('patient', async (_input: unknown, ctx) => {
    const first = await ctx.step('first', () => {
      bump('first');
      return 'ok';
    });
    const got = await ctx.waitFor<{ n: number }>('go', { key: `go:${ctx.callId}` });
    return { first, got };
  });
  await dispatch.migrate();
  worker = await dispatch.worker({ concurrency: 4, pollIntervalMs: 100 });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

const ended = (id: string) =>
  eventually(async () => {
    const c = (await dispatch.getCall(id))!;
    return ['succeeded', 'failed', 'cancelled'].includes(c.status) && c;
  });
const steps = async (id: string) =>
  (
    await db.pool.query(
      'select seq, name, status, attempts, error from pgdispatch.steps where call_id = $1 order by seq',
      [id],
    )
  ).rows;

it('a retried failed workflow runs its failed step again, not the ones before it', async () => {
  const id = await dispatch.dispatch('fragile', {});
  expect((await ended(id)).status).toBe('failed');
  expect(await steps(id)).toMatchObject([
    { name: 'a', status: 'succeeded' },
    { name: 'b', status: 'failed', error: 'b is broken' },
  ]);
  fixed = true;
  expect(await dispatch.retry(id)).toBe(true);
  const c = await ended(id);
  expect(c.status).toBe('succeeded');
  expect(c.output).toBe(3);
  expect(await steps(id)).toEqual([
    { seq: 0, name: 'a', status: 'succeeded', attempts: 1, error: null },
    { seq: 1, name: 'b', status: 'succeeded', attempts: 1, error: null },
  ]);
  expect(runs.get('a')).toBe(1);
  expect(runs.get('b')).toBe(2);
  const { rows } = await db.pool.query(
    'select count(*)::int as n from effects where call_id = $1',
    [id],
  );
  expect(rows[0].n).toBe(1);
  const { rows: attempts } = await db.pool.query(
    'select attempt, status from pgdispatch.attempts where call_id = $1 order by attempt',
    [id],
  );
  expect(attempts).toEqual([
    { attempt: 1, status: 'permanent_error' },
    { attempt: 2, status: 'ok' },
  ]);
});

it('a retried cancelled workflow waits again for the signal it was waiting for', async () => {
  const id = await dispatch.dispatch('patient', {});
  await eventually(async () => (await dispatch.getCall(id))?.status === 'waiting');
  expect(await dispatch.cancel(id)).toBe(true);
  expect(await steps(id)).toMatchObject([
    { name: 'first', status: 'succeeded' },
    { name: 'go', status: 'cancelled' },
  ]);
  expect(await dispatch.retry(id)).toBe(true);
  await eventually(async () => (await dispatch.getCall(id))?.status === 'waiting');
  await dispatch.signal(`go:${id}`, { n: 7 });
  const c = await ended(id);
  expect(c.status).toBe('succeeded');
  expect(c.output).toEqual({ first: 'ok', got: { n: 7 } });
  expect(runs.get('first')).toBe(1);
  expect(await steps(id)).toMatchObject([
    { name: 'first', status: 'succeeded' },
    { name: 'go', status: 'succeeded' },
  ]);
});
