/**
 * What a workflow's steps return or throw is stored as Postgres can take it
 * (core/storable.ts): lone surrogates and NULs replaced, NaN noted, and the
 * call finishes instead of failing its group commit over and over.
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
  dispatch.workflow('unstorable', async (_input: unknown, ctx) => {
    const lone = await ctx.step('lone', () => 'a\ud800');
    const nan = await ctx.step('nan', () => ({ x: Number.NaN, y: 1 }));
    const nul = await ctx.step('nul', () => 'n\u0000ul');
    const tx = await ctx.tx('tx', async () => ['b\udc00']);
    let caught = '';
    try {
      await ctx.step('throws', () => {
        throw new PermanentError('bad \ud800 and \u0000');
      });
    } catch (err) {
      caught = (err as Error).message;
    }
    const refused: string[] = [];
    for (const bad of [
      () => ctx.step('na\u0000me', () => 1),
      () => ctx.waitFor('w', { key: 'k\ud800' }),
    ]) {
      try {
        await bad();
      } catch (err) {
        refused.push((err as Error).message);
      }
    }
    return { lone, nan, nul, tx, caught, refused, z: Number.POSITIVE_INFINITY, w: 'c\udbff' };
  });
  await dispatch.migrate();
  worker = await dispatch.worker({ concurrency: 4, pollIntervalMs: 100 });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

it('stores unstorable step outputs and errors with a note, and the call finishes', async () => {
  const id = await dispatch.dispatch('unstorable', {});
  const c = await eventually(async () => {
    const got = (await dispatch.getCall(id))!;
    return ['succeeded', 'failed', 'cancelled'].includes(got.status) && got;
  });
  expect(c.status).toBe('succeeded');
  expect(c.output).toMatchObject({
    lone: 'a\ufffd',
    nan: { x: null, y: 1 },
    nul: 'n\ufffdul',
    tx: ['b\ufffd'],
    z: null,
    w: 'c\ufffd',
  });
  expect((c.output as { refused: string[] }).refused).toEqual([
    'step name "na\ufffdme" contains a NUL character, which Postgres cannot store',
    "waitFor's key contains a lone UTF-16 surrogate, which Postgres cannot store",
  ]);
  expect((c.output as { caught: string }).caught).toMatch(
    /step throws failed: bad \ufffd and \ufffd/,
  );
  const { rows } = await db.pool.query(
    'select name, status, output, error from pgdispatch.steps where call_id = $1 order by seq',
    [id],
  );
  expect(rows).toEqual([
    {
      name: 'lone',
      status: 'succeeded',
      output: 'a\ufffd',
      error: 'output: 1 NUL or lone surrogate replaced by U+FFFD',
    },
    {
      name: 'nan',
      status: 'succeeded',
      output: { x: null, y: 1 },
      error: 'output: 1 value JSON has no form for (NaN, ±Infinity, invalid Date) stored as null',
    },
    {
      name: 'nul',
      status: 'succeeded',
      output: 'n\ufffdul',
      error: 'output: 1 NUL or lone surrogate replaced by U+FFFD',
    },
    {
      name: 'tx',
      status: 'succeeded',
      output: ['b\ufffd'],
      error: 'output: 1 NUL or lone surrogate replaced by U+FFFD',
    },
    { name: 'throws', status: 'failed', output: null, error: 'bad \ufffd and \ufffd' },
  ]);
  const { rows: attempts } = await db.pool.query(
    'select status, error from pgdispatch.attempts where call_id = $1 order by attempt',
    [id],
  );
  expect(attempts).toHaveLength(1);
  expect(attempts[0].status).toBe('ok');
  expect(attempts[0].error).toMatch(/output: 1 value JSON has no form for/);
  expect(attempts[0].error).toMatch(/output: 1 NUL or lone surrogate replaced/);
});
