/**
 * A workflow's trace context reaches every job of its story: its wake-up
 * jobs' payloads carry it, as dispatch's first job does, and its children
 * are dispatched with it (their rows and their jobs).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Dispatch, WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch();
  const child = dispatch.func('traced_child', (n: number) => n + 1);
  dispatch.workflow('traced_parent', async (_input: unknown, ctx) => {
    const n = await ctx.call(child, 1);
    await ctx.sleep('nap', 3_600_000);
    return n;
  });
  await dispatch.migrate();
  worker = await dispatch.worker({ concurrency: 2, pollIntervalMs: 100 });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

it('carries the trace context into the wake-up jobs and the children', async () => {
  const { rows } = await db.pool.query<{ id: string }>(
    `select pgdispatch.dispatch('traced_parent', 'null', $1::jsonb)::text as id`,
    [JSON.stringify({ trace_context: trace })],
  );
  const id = rows[0]!.id;
  // Woken by its child, it sleeps: its next job is the sleep's wake-up.
  const job = await eventually(async () => {
    const { rows: r } = await db.pool.query<{ payload: { trace?: unknown; attempt: number } }>(
      `select j.payload from pgdispatch.calls c
         join graphile_worker._private_jobs j on j.id = c.job_id
        where c.id = $1 and c.status = 'waiting'
          and exists (select from pgdispatch.steps s
                       where s.call_id = c.id and s.name = 'nap' and s.status = 'waiting')`,
      [id],
    );
    return r[0];
  });
  expect(job.payload.attempt).toBe(3);
  expect(job.payload.trace).toEqual(trace);
  const { rows: children } = await db.pool.query<{ trace_context: unknown; status: string }>(
    'select trace_context, status from pgdispatch.calls where parent_call_id = $1',
    [id],
  );
  expect(children).toEqual([{ trace_context: trace, status: 'succeeded' }]);
});
