/**
 * Workflows in one worker process: replay over recorded steps, sleeps,
 * signals (before, after, never), children, gather, limits, versioning.
 * Every assertion is on rows of calls, steps, signals and attempts.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dispatch, PermanentError, pruneCalls, TemporaryError } from '../src/index.js';
import type { WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
const runs = new Map<string, number>();
const bump = (k: string) => runs.set(k, (runs.get(k) ?? 0) + 1);

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('quick', '{50ms}', 3)`,
  );
  await db.pool.query('create table effects (call_id bigint, n int)');
  dispatch = db.dispatch();
  const child = dispatch.func('double', (n: number) => n * 2);
  dispatch.func('boom', () => {
    throw new PermanentError('child says no');
  });

  dispatch.workflow('basic', async (input: { id: string }, ctx) => {
    const a = await ctx.step('a', () => {
      bump(`${input.id}:a`);
      return 1;
    });
    let total = a;
    for (let i = 0; i < 3; i++) {
      total += await ctx.step('loop', () => {
        bump(`${input.id}:loop`);
        return i;
      });
    }
    await ctx.sleep('nap', 100);
    await ctx.tx('effect', async (tx) => {
      await tx.query('insert into effects values ($1, 1)', [ctx.callId]);
    });
    const [x, y] = await ctx.gather([ctx.call(child, 10), ctx.call(child, 20)]);
    return { total, x, y, t: ctx.now().getTime() > 0, r: ctx.random() < 1 };
  });

  dispatch.workflow('waiter', async (input: { key: string; timeoutMs?: number }, ctx) => {
    const got = await ctx.waitFor('signal', { key: input.key, timeoutMs: input.timeoutMs });
    return { got };
  });

  dispatch.workflow('flaky', async (_input: unknown, ctx) => {
    const v = await ctx.step(
      'flaky',
      ({ attempt }) => {
        if (attempt < 3) throw new TemporaryError(`try ${attempt}`);
        return attempt;
      },
      { retryPolicy: 'quick' },
    );
    let caught = '';
    try {
      await ctx.call('boom', {});
    } catch (err) {
      caught = (err as Error).message;
    }
    return { v, caught };
  });

  dispatch.workflow('bad-child-input', async (_input: unknown, ctx) => {
    try {
      await ctx.call(child, 'nul\u0000' as unknown as number);
    } catch (err) {
      return (err as Error).message;
    }
  });

  dispatch.workflow('mixed-gather', async (_input: unknown, ctx) => {
    const calls = [ctx.call(child, 1), ctx.call('not-registered', {}), ctx.call(child, 3)];
    try {
      return await ctx.gather(calls);
    } catch (err) {
      return (err as Error).message;
    }
  });

  dispatch.workflow('big', async (_input: unknown, ctx) => {
    await ctx.step('huge', () => 'x'.repeat(2 * 1024 * 1024));
    return 'unreachable';
  });

  dispatch.workflow('stuck', async (_input: unknown, ctx) => {
    await ctx.step('hang', ({ signal }) => {
      bump('stuck:started');
      return new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          bump('stuck:aborted');
          reject(new Error('aborted'));
        });
      });
    });
  });

  await dispatch.migrate();
  worker = await dispatch.worker({ concurrency: 20, pollIntervalMs: 200 });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

const call = async (id: string) => (await dispatch.getCall(id))!;
const finished = (id: string) =>
  eventually(async () => {
    const c = await call(id);
    return ['succeeded', 'failed', 'cancelled'].includes(c.status) && c;
  });
const steps = async (id: string) =>
  (
    await db.pool.query(
      'select seq, name, kind, status, attempts, output, error, child_call_id from pgdispatch.steps where call_id = $1 order by seq',
      [id],
    )
  ).rows;

it('runs steps once, sleeps, commits a tx step, gathers children', async () => {
  const id = await dispatch.dispatch('basic', { id: 'b1' });
  const c = await finished(id);
  expect(c.status).toBe('succeeded');
  expect(c.output).toEqual({ total: 4, x: 20, y: 40, t: true, r: true });
  const s = await steps(id);
  expect(s.map((r) => r.name)).toEqual([
    'a',
    'loop',
    'loop#2',
    'loop#3',
    'nap',
    'effect',
    'double',
    'double#2',
    'now',
    'random',
  ]);
  expect(s.every((r) => r.status === 'succeeded')).toBe(true);
  // Replays after the sleep and the children did not run the steps again.
  expect(runs.get('b1:a')).toBe(1);
  expect(runs.get('b1:loop')).toBe(3);
  const { rows } = await db.pool.query(
    'select count(*)::int as n from effects where call_id = $1',
    [id],
  );
  expect(rows[0].n).toBe(1);
  const { rows: children } = await db.pool.query(
    'select status, parent_call_id::text from pgdispatch.calls where parent_call_id = $1',
    [id],
  );
  expect(children).toHaveLength(2);
  const { rows: attempts } = await db.pool.query(
    'select status from pgdispatch.attempts where call_id = $1 order by attempt',
    [id],
  );
  expect(attempts.map((a) => a.status)).toEqual(['suspended', 'suspended', 'ok']);
});

it('a signal sent before the wait, after it, or never', async () => {
  await dispatch.signal('early', { n: 1 });
  const before = await dispatch.dispatch('waiter', { key: 'early' });
  const after = await dispatch.dispatch('waiter', { key: 'late' });
  const never = await dispatch.dispatch('waiter', { key: 'never', timeoutMs: 300 });
  await eventually(async () => (await call(after)).status === 'waiting');
  await db.pool.query(`select pgdispatch.signal('late', '{"n": 2}')`);
  expect((await finished(before)).output).toEqual({ got: { n: 1 } });
  expect((await finished(after)).output).toEqual({ got: { n: 2 } });
  expect((await finished(never)).output).toEqual({ got: null });
  const { rows } = await db.pool.query(
    'select key, call_id::text from pgdispatch.signals order by id',
  );
  expect(rows).toEqual([
    { key: 'early', call_id: before },
    { key: 'late', call_id: after },
  ]);
});

it('retries a step on its policy and throws a failed child into the body', async () => {
  const id = await dispatch.dispatch('flaky', {});
  const c = await finished(id);
  expect(c.status).toBe('succeeded');
  expect(c.output).toMatchObject({ v: 3 });
  expect((c.output as { caught: string }).caught).toMatch(/child says no/);
  const s = await steps(id);
  expect(s[0]).toMatchObject({ name: 'flaky', status: 'succeeded', attempts: 3 });
  expect(s[1]).toMatchObject({ name: 'boom', kind: 'call', status: 'failed' });
});

it('fails a step whose output is over the size limit, with a message saying so', async () => {
  const id = await dispatch.dispatch('big', {});
  const c = await finished(id);
  expect(c.status).toBe('failed');
  expect(c.last_error).toMatch(/output of step huge is 2\.0 MiB, over the limit of 1\.0 MiB/);
  const s = await steps(id);
  expect(s[0]).toMatchObject({ name: 'huge', status: 'failed' });
});

it('cancelling a running workflow aborts its running step', async () => {
  const id = await dispatch.dispatch('stuck', {});
  await eventually(async () => runs.get('stuck:started') === 1);
  expect(await dispatch.cancel(id)).toBe(true);
  await eventually(async () => runs.get('stuck:aborted') === 1);
  const c = await finished(id);
  expect(c.status).toBe('cancelled');
  await eventually(async () => {
    const { rows } = await db.pool.query(
      'select status from pgdispatch.attempts where call_id = $1',
      [id],
    );
    return rows.length === 1;
  });
  expect(await steps(id)).toEqual([]);
});

it('refuses a child input that is not JSON jsonb can store, as a failed step', async () => {
  const id = await dispatch.dispatch('bad-child-input', {});
  const c = await finished(id);
  expect(c.status).toBe('succeeded');
  expect(c.output).toMatch(/step double failed: input of double contains a NUL character/);
  expect(await steps(id)).toMatchObject([{ name: 'double', kind: 'call', status: 'failed' }]);
  const { rows } = await db.pool.query(
    'select count(*)::int as n from pgdispatch.calls where parent_call_id = $1',
    [id],
  );
  expect(rows[0].n).toBe(0);
});

it('a gather with a child to an unknown function fails that step alone; the others run', async () => {
  const id = await dispatch.dispatch('mixed-gather', {});
  const c = await finished(id);
  expect(c.status).toBe('succeeded');
  expect(c.output).toMatch(/unknown function 'not-registered'/);
  const rows = await steps(id);
  expect(rows.map((r) => [r.kind, r.status === 'failed'])).toEqual([
    ['call', false],
    ['call', true],
    ['call', false],
  ]);
  expect(rows[1].child_call_id).toBeNull();
  const children = await eventually(async () => {
    const { rows: kids } = await db.pool.query(
      'select id, status, output from pgdispatch.calls where parent_call_id = $1 order by id',
      [id],
    );
    return kids.length === 2 && kids.every((k) => k.status === 'succeeded') && kids;
  });
  expect(children.map((k) => k.output)).toEqual([2, 6]);
  expect(children.map((k) => String(k.id))).toEqual([rows[0].child_call_id, rows[2].child_call_id].map(String));
});

it("records a group's children in one statement, and one by one when one of them is bad", async () => {
  // Children dispatched by one statement share the transaction's id; one by
  // one, each gets the id of its own subtransaction. Rolled back, so no
  // worker runs them.
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    const group = async (fns: string[]) => {
      const parent = (await client.query<{ id: string }>('select pgdispatch.call_id()::text as id')).rows[0]!.id;
      const ops = fns.map((fn, i) => ({ op: 'call', i, call_id: parent, seq: i + 1, name: `c${i}`, fn, input: i, options: {} }));
      const recorded = await client.query('select i, status from pgdispatch.record_workflow($1, $2::jsonb) order by i', [
        'test-worker',
        JSON.stringify(ops),
      ]);
      const kids = await client.query<{ n: number; xids: number }>(
        'select count(*)::int as n, count(distinct xmin::text)::int as xids from pgdispatch.calls where parent_call_id = $1',
        [parent],
      );
      return { statuses: recorded.rows.map((r) => r.status), ...kids.rows[0] };
    };
    expect(await group(['double', 'double', 'double'])).toEqual({
      statuses: ['waiting', 'waiting', 'waiting'],
      n: 3,
      xids: 1,
    });
    expect(await group(['double', 'not-registered', 'double'])).toEqual({
      statuses: ['waiting', 'failed', 'waiting'],
      n: 2,
      xids: 2,
    });
  } finally {
    await client.query('rollback');
    client.release();
  }
});

it('prunes old signals nobody took, and those of pruned calls; keeps the rest', async () => {
  const key = `prune:${Date.now()}`;
  const { rows: kept } = await db.pool.query<{ id: string }>(
    `insert into pgdispatch.calls (function, input, status, retry_policy)
     values ('p', 'null', 'waiting', 'default') returning id::text`,
  );
  await db.pool.query(
    `insert into pgdispatch.signals (key, payload, created_at, consumed_at, call_id, seq)
     values ($1 || ':old', '1', now() - interval '40 days', null, null, null),
            ($1 || ':new', '2', now() - interval '1 day', null, null, null),
            ($1 || ':taken', '3', now() - interval '40 days', now() - interval '39 days', $2, 0),
            ($1 || ':gone', '4', now() - interval '40 days', now() - interval '39 days', -1, 0)`,
    [key, kept[0]!.id],
  );
  await pruneCalls(dispatch, { olderThanMs: 30 * 86_400_000, batchSize: 1 });
  const { rows } = await db.pool.query<{ key: string }>(
    'select key from pgdispatch.signals where key like $1 order by key',
    [`${key}:%`],
  );
  expect(rows.map((r) => r.key)).toEqual([`${key}:new`, `${key}:taken`]);
});
