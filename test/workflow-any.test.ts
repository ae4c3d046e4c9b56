/**
 * ctx.any: the first child to succeed wins. The parent wakes when any child
 * ends, a failure too, and a run that finds only failures sleeps again
 * (docs/workflows.md says so).
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
    await new Promise((r) => setTimeout(r, 400));
    return n;
  });
  dispatch.workflow('race', async (_input: unknown, ctx) =>
    ctx.any([ctx.call(boom, {}), ctx.call(later, 5)]),
  );
  await dispatch.migrate();
  worker = await dispatch.worker({ concurrency: 4, pollIntervalMs: 100 });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

it('returns the first success; a failed child wakes the parent, which sleeps again', async () => {
  const id = await dispatch.dispatch('race', {});
  const c = await eventually(async () => {
    const got = (await dispatch.getCall(id))!;
    return ['succeeded', 'failed', 'cancelled'].includes(got.status) && got;
  });
  expect(c.status).toBe('succeeded');
  expect(c.output).toBe(5);
  const { rows: steps } = await db.pool.query(
    'select name, status from pgdispatch.steps where call_id = $1 order by seq',
    [id],
  );
  expect(steps).toEqual([
    { name: 'boom', status: 'failed' },
    { name: 'later', status: 'succeeded' },
  ]);
  const { rows: attempts } = await db.pool.query(
    'select status from pgdispatch.attempts where call_id = $1 order by attempt',
    [id],
  );
  expect(attempts.map((a) => a.status)).toEqual(['suspended', 'suspended', 'ok']);
});
