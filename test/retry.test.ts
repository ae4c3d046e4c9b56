import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Dispatch,
  PermanentError,
  TemporaryError,
  ThrottledError,
  type WorkerHandle,
} from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
const runs = new Map<string, number>();
const bump = (key: string) => {
  const n = (runs.get(key) ?? 0) + 1;
  runs.set(key, n);
  return n;
};

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(`
    insert into pgdispatch.retry_policies (name, delays, max_attempts) values
      ('edited', array[interval '1 second', interval '10 minutes'], 5),
      ('quick', array[interval '50 ms'], 3),
      ('throttle', array[interval '100 ms', interval '5 seconds'], 5)`);
  dispatch = db.dispatch();
  dispatch.func(
    'flaky',
    async (input: { key: string; failures: number }) => {
      const n = bump(input.key);
      if (n <= input.failures) throw new TemporaryError(`failure ${n} of ${input.failures}`);
      return { succeededOnRun: n };
    },
    { retryPolicy: 'edited' },
  );
  dispatch.func('broken', async () => {
    throw new PermanentError('this input can never work');
  });
  dispatch.func('always_temporary', async () => {
    throw new TemporaryError('still down');
  }, { retryPolicy: 'quick' });
  dispatch.func('throttled', async (input: { key: string }) => {
    if (bump(input.key) === 1) throw new ThrottledError('slow down', { retryAfterMs: 1_500 });
    return 'ok';
  }, { retryPolicy: 'throttle' });
  dispatch.func('type_error', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: a bug, on purpose
    return (undefined as any).boom;
  }, { retryPolicy: 'quick' });
  dispatch.func('type_error_retried', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: a bug, on purpose
    return (undefined as any).boom;
  }, { retryPolicy: 'quick', retryUnknownErrors: true });
  dispatch.func('go_style', async () => {
    throw Object.assign(new Error('webhook endpoint has failed'), { temporary: () => true });
  }, { retryPolicy: 'quick', maxAttempts: 2 });
  dispatch.func('slow', async (_: unknown, ctx) => {
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    return ctx.signal.aborted;
  }, { retryPolicy: 'quick', maxAttempts: 1, timeoutMs: 200 });
  await dispatch.migrate();
  worker = await dispatch.worker({ concurrency: 8, pollIntervalMs: 50 });
});
afterAll(async () => {
  await worker?.stop();
  await db.drop();
});

const finished = (id: string) =>
  eventually(async () => {
    const c = await dispatch.getCall(id);
    return c && ['succeeded', 'failed', 'cancelled'].includes(c.status) ? c : undefined;
  });

describe('retry_delay', () => {
  it('follows explicit and exponential schedules, with jitter in bounds', async () => {
    const { rows } = await db.pool.query(`
      with p as (select * from pgdispatch.retry_policies)
      select
        (select array_agg(extract(epoch from pgdispatch.retry_delay(p, n, 0.5))::float8 order by n)
           from p, generate_series(1, 11) n where p.name = 'webhook') as webhook,
        (select array_agg(extract(epoch from pgdispatch.retry_delay(p, n, 0.5))::float8 order by n)
           from p, generate_series(1, 14) n where p.name = 'default') as exponential,
        (select array[min(d), max(d)] from (
           select extract(epoch from pgdispatch.retry_delay(p, 2))::float8 d
             from p, generate_series(1, 2000) where p.name = 'webhook') j) as jittered`);
    const h = 3600;
    expect(rows[0].webhook).toEqual([5, 300, 1800, 2 * h, 5 * h, 10 * h, 14 * h, 20 * h, 24 * h, 24 * h, 24 * h]);
    expect(rows[0].exponential).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600]);
    const [min, max] = rows[0].jittered as number[];
    expect(min).toBeGreaterThanOrEqual(270);
    expect(max).toBeLessThanOrEqual(330);
    expect(max! - min!).toBeGreaterThan(30); // spread, not all at once
  });
});

describe('retries', () => {
  it('fails twice, succeeds on the third attempt, on a schedule edited with SQL after dispatch', async () => {
    const id = await dispatch.dispatch('flaky', { key: 'a', failures: 2 });
    // The policy said 10 minutes before the third attempt; change it while the call is in flight.
    await eventually(async () => ((await dispatch.getCall(id))?.attempts ?? 0) >= 1);
    await db.pool.query(
      `update pgdispatch.retry_policies set delays = array[interval '1 second', interval '400 ms'] where name = 'edited'`,
    );
    const call = await finished(id);
    expect(call).toMatchObject({ status: 'succeeded', attempts: 3, output: { succeededOnRun: 3 } });
    const attempts = await dispatch.getAttempts(id);
    expect(attempts.map((a) => a.status)).toEqual(['temporary_error', 'temporary_error', 'ok']);
    expect(attempts[0]!.error).toBe('failure 1 of 2');
    const gap = (i: number) => attempts[i]!.started_at.getTime() - attempts[i - 1]!.finished_at.getTime();
    expect(gap(1)).toBeGreaterThanOrEqual(950);
    expect(gap(1)).toBeLessThan(1_900);
    expect(gap(2)).toBeGreaterThanOrEqual(350);
    expect(gap(2)).toBeLessThan(1_300);
    const history = await dispatch.getHistory(id);
    expect(history.map((h) => `${h.event}:${h.status}`)).toEqual([
      'dispatched:pending',
      'attempt:temporary_error',
      'attempt:temporary_error',
      'attempt:ok',
    ]);
  });

  it('a permanent error stops at once', async () => {
    const id = await dispatch.dispatch('broken', {});
    const call = await finished(id);
    expect(call).toMatchObject({ status: 'failed', attempts: 1, last_error: 'this input can never work' });
    expect((await dispatch.getAttempts(id)).map((a) => a.status)).toEqual(['permanent_error']);
  });

  it('max attempts ends failed, and the history says why', async () => {
    const id = await dispatch.dispatch('always_temporary', {});
    const call = await finished(id);
    expect(call).toMatchObject({ status: 'failed', attempts: 3, last_error: 'still down', next_attempt_at: null });
    const history = await dispatch.getHistory(id);
    expect(history.at(-1)).toMatchObject({ event: 'gave_up', status: 'failed' });
    expect(history.at(-1)!.detail).toMatch(/gave up after 3 attempts/);
  });

  it('a per-call maxAttempts overrides the function and policy', async () => {
    const id = await dispatch.dispatch('always_temporary', {}, { maxAttempts: 1 });
    expect(await finished(id)).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('honours a throttled retry-after within the policy bounds', async () => {
    const id = await dispatch.dispatch('throttled', { key: 't' });
    const call = await finished(id);
    expect(call.status).toBe('succeeded');
    const [first, second] = await dispatch.getAttempts(id);
    expect(first!.status).toBe('throttled');
    // The policy alone would wait 100 ms; the server asked for 1.5 s.
    expect(second!.started_at.getTime() - first!.finished_at.getTime()).toBeGreaterThanOrEqual(1_450);
  });

  it('unknown errors are permanent unless the function says otherwise', async () => {
    const a = await finished(await dispatch.dispatch('type_error', {}));
    expect(a).toMatchObject({ status: 'failed', attempts: 1 });
    expect(a.last_error).toMatch(/Cannot read properties of undefined/);
    const b = await finished(await dispatch.dispatch('type_error_retried', {}));
    expect(b).toMatchObject({ status: 'failed', attempts: 3 });
  });

  it('an error whose temporary() returns true is retried, as in the seed', async () => {
    const id = await dispatch.dispatch('go_style', {});
    expect(await finished(id)).toMatchObject({ status: 'failed', attempts: 2 });
    expect((await dispatch.getAttempts(id)).map((a) => a.status)).toEqual(['temporary_error', 'temporary_error']);
  });

  it('an attempt past its timeout is a timeout, even if the handler ignores its signal', async () => {
    const t0 = Date.now();
    const id = await dispatch.dispatch('slow', {});
    const call = await finished(id);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(call).toMatchObject({ status: 'failed', last_error: 'attempt timed out after 200 ms' });
    expect((await dispatch.getAttempts(id))[0]!.status).toBe('timeout');
  });
});

describe('cancel and manual retry', () => {
  it('cancels a pending call: its job goes, the history says who and why', async () => {
    const id = await dispatch.dispatch('flaky', { key: 'c', failures: 0 }, { runAt: new Date(Date.now() + 60_000) });
    expect(await dispatch.cancel(id, { reason: 'order refunded', actor: 'alice' })).toBe(true);
    expect(await dispatch.cancel(id)).toBe(false);
    const call = await dispatch.getCall(id);
    expect(call).toMatchObject({ status: 'cancelled', attempts: 0 });
    const jobs = await db.pool.query('select 1 from graphile_worker._private_jobs where (payload->>$1)::bigint = $2', ['id', id]);
    expect(jobs.rowCount).toBe(0);
    const history = await dispatch.getHistory(id);
    expect(history.at(-1)).toMatchObject({ event: 'cancelled', status: 'cancelled', detail: 'order refunded by alice' });
    await expect(dispatch.cancel('999999999')).rejects.toMatchObject({ code: 'CALL_NOT_FOUND' });
  });

  it('retries a failed call: attempt numbering continues', async () => {
    const id = await dispatch.dispatch('flaky', { key: 'r', failures: 1 }, { maxAttempts: 1 });
    expect(await finished(id)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await dispatch.retry(id, { actor: 'bob' })).toBe(true);
    const call = await eventually(async () => {
      const c = await dispatch.getCall(id);
      return c?.status === 'succeeded' ? c : undefined;
    });
    expect(call.attempts).toBe(2);
    expect(await dispatch.retry(id)).toBe(false); // succeeded: nothing to retry
    const history = await dispatch.getHistory(id);
    expect(history.map((h) => h.event)).toEqual(['dispatched', 'attempt', 'gave_up', 'retried', 'attempt']);
    expect(history[3]).toMatchObject({ attempt: 2, detail: 'manual retry by bob' });
  });
});

describe('retry timing', () => {
  it('runs a retry it scheduled when it is due, not at the next poll', async () => {
    await db.pool.query(
      `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('punctual', '{300ms}', 3)`,
    );
    const own = db.dispatch();
    let calls = 0;
    const fn = own.func(
      'punctual',
      async () => {
        if (++calls === 1) throw new TemporaryError('first attempt fails');
        return 'ok';
      },
      { retryPolicy: 'punctual' },
    );
    await own.migrate();
    // Polling every 10 s: only the worker's own wake-up can start the retry in time.
    const w = await own.worker({ pollIntervalMs: 10_000 });
    try {
      const id = await fn.dispatch(null);
      const attempts = await eventually(async () => {
        const a = await own.getAttempts(id);
        return a.length === 2 ? a : undefined;
      });
      const gap = attempts[1]!.started_at.getTime() - attempts[0]!.finished_at.getTime();
      expect(gap).toBeGreaterThanOrEqual(290);
      expect(gap).toBeLessThan(1_000);
    } finally {
      await w.stop();
    }
  });
});
