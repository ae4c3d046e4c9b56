/**
 * The recording statements on their own: record_outcomes (what workers
 * call) returns only the results a worker cannot foresee, and
 * record_attempts, kept for workers of 0.1.0, still returns one row per
 * outcome. Both write the same rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeOf } from '../src/sql/runtime.js';
import type { Dispatch, DispatchFunction } from '../src/index.js';
import { createTestDatabase, nestedPlans, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;
let fn: DispatchFunction<{ i: number }, void>;

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch();
  fn = dispatch.func('record_fn', async () => undefined);
});
afterAll(() => db.drop());

/** n calls whose first attempt is running: their jobs are locked, as a worker's claim leaves them. */
async function running(n: number): Promise<{ call_id: string; job_id: string }[]> {
  const ids = await fn.dispatchMany(Array.from({ length: n }, (_, i) => ({ i })));
  const { rows } = await db.pool.query<{ call_id: string; job_id: string }>(
    `update graphile_worker._private_jobs j set locked_at = now(), locked_by = 'w-test'
       from pgdispatch.calls c
      where c.job_id = j.id and c.id = any($1::bigint[])
     returning c.id::text as call_id, j.id::text as job_id`,
    [ids],
  );
  const byCall = new Map(rows.map((r) => [r.call_id, r]));
  return ids.map((id) => byCall.get(String(id))!);
}

const STARTED_MS = Date.parse('2026-01-02T03:04:05.678Z');

function outcome(call: { call_id: string; job_id: string }, status: string, extra = {}) {
  return {
    job_id: call.job_id,
    call_id: call.call_id,
    attempt: 1,
    started_ms: STARTED_MS,
    duration_ms: 12.345,
    status,
    http_status: null,
    error: status === 'ok' ? null : `${status} here`,
    response: null,
    output: null,
    retry_after_ms: null,
    ...extra,
  };
}

async function recordOutcomes(worker: string, outcomes: unknown[]) {
  const { rows } = await db.pool.query({
    ...runtimeOf(dispatch).queries.recordOutcomes,
    values: [worker, JSON.stringify(outcomes)],
  });
  return rows;
}

describe('record_outcomes', () => {
  it('returns only retryable, cancelled and already recorded outcomes, and records them all', async () => {
    const [ok, permanent, temporary, cancelled] = await running(4);
    await dispatch.cancel(cancelled!.call_id);
    const rows = await recordOutcomes('w-test', [
      outcome(ok!, 'ok'),
      outcome(permanent!, 'permanent_error'),
      outcome(temporary!, 'temporary_error'),
      outcome(cancelled!, 'ok'),
    ]);
    expect(rows.map((r) => [r.call_id, r.call_status, r.recorded]).sort()).toEqual(
      [
        [cancelled!.call_id, 'cancelled', true],
        [temporary!.call_id, 'retrying', true],
      ].sort(),
    );
    expect(rows.find((r) => r.call_id === temporary!.call_id)?.next_attempt_at).toBeInstanceOf(
      Date,
    );
    // The retry's job: the next attempt's payload, due when the call says, the function's task.
    const next = await db.pool.query(
      `select j.payload, j.run_at, c.next_attempt_at, t.identifier
         from pgdispatch.calls c
         join graphile_worker._private_jobs j on j.id = c.job_id
         join graphile_worker._private_tasks t on t.id = j.task_id
        where c.id = $1`,
      [temporary!.call_id],
    );
    expect(next.rows).toHaveLength(1);
    expect(next.rows[0].payload).toEqual({
      id: Number(temporary!.call_id),
      attempt: 2,
      input: { i: 2 },
    });
    expect(next.rows[0].run_at).toEqual(next.rows[0].next_attempt_at);
    expect(next.rows[0].identifier).toBe('record_fn');

    const calls = await db.pool.query(
      `select id::text, status from pgdispatch.calls where id = any($1::bigint[]) order by id`,
      [[ok, permanent, temporary, cancelled].map((c) => c!.call_id)],
    );
    expect(calls.rows.map((r) => r.status)).toEqual([
      'succeeded',
      'failed',
      'retrying',
      'cancelled',
    ]);
    const attempts = await db.pool.query(
      `select call_id::text, worker, status, duration_ms, started_at, finished_at
         from pgdispatch.attempts where call_id = any($1::bigint[]) order by call_id`,
      [[ok, permanent, temporary, cancelled].map((c) => c!.call_id)],
    );
    expect(attempts.rows).toHaveLength(4);
    for (const a of attempts.rows) {
      expect(a.worker).toBe('w-test');
      expect(a.duration_ms).toBeCloseTo(12.345, 3);
      expect((a.started_at as Date).toISOString()).toBe('2026-01-02T03:04:05.678Z');
      // Microseconds survive in the row; a Date shows milliseconds.
      expect((a.finished_at as Date).getTime()).toBe(STARTED_MS + 12);
    }
    const finished = await db.pool.query(
      `select to_char(finished_at at time zone 'UTC', 'SS.US') as s from pgdispatch.attempts
        where call_id = $1`,
      [ok!.call_id],
    );
    expect(finished.rows[0].s).toBe('05.690345');
    const jobs = await db.pool.query(
      'select count(*)::int as n from graphile_worker._private_jobs where id = any($1::bigint[])',
      [[ok, permanent, temporary, cancelled].map((c) => c!.job_id)],
    );
    expect(jobs.rows[0].n).toBe(0);
  });

  it('an outcome recorded already comes back as not recorded, and changes nothing', async () => {
    const [call] = await running(1);
    expect(await recordOutcomes('w-a', [outcome(call!, 'ok')])).toEqual([]);
    const again = await recordOutcomes('w-b', [outcome(call!, 'permanent_error')]);
    expect(again).toEqual([
      {
        call_id: call!.call_id,
        attempt: 1,
        call_status: null,
        next_attempt_at: null,
        recorded: false,
      },
    ]);
    const { rows } = await db.pool.query(
      'select status, worker from pgdispatch.attempts where call_id = $1',
      [call!.call_id],
    );
    expect(rows).toEqual([{ status: 'ok', worker: 'w-a' }]);
  });
});

describe('record_outcomes at scale', () => {
  it('reaches jobs and calls by primary key, in one partition, in custom and generic plans alike', async () => {
    // A month of daily partitions, as 30 days of retention keeps.
    await db.pool.query('select pgdispatch.partitions_create(7, 30)');
    // History a scan would have to read: finished calls the batch never touches.
    await fn.dispatchMany(Array.from({ length: 2_000 }, (_, i) => ({ i })));
    await db.pool.query(`delete from graphile_worker._private_jobs j using pgdispatch.calls c
                          where c.job_id = j.id and c.status = 'pending'`);
    await db.pool.query('analyze');
    // A session plans the statement afresh five times, then settles on a generic plan.
    const plans = await nestedPlans(db.pool, async (client) => {
      for (let i = 0; i < 8; i++) {
        const [call] = await running(1);
        await client.query({
          ...runtimeOf(dispatch).queries.recordOutcomes,
          values: ['w-plan', JSON.stringify([outcome(call!, 'ok')])],
        });
      }
    });
    const recordings = plans.filter((p) => p.includes('Update on calls'));
    expect(recordings).toHaveLength(8);
    for (const plan of recordings) {
      expect(plan).toMatch(
        /Index Scan using \w+ on _private_jobs[^\n]*\n(?:[^\n]*\n)*?\s+Index Cond: \(id = ANY/,
      );
      expect(plan).toMatch(
        // The partition's primary key (calls_legacy_pkey, calls_p20260314_pkey…).
        /Index Scan using calls_\w*pkey on calls\w*[^\n]*\n(?:[^\n]*\n)*?\s+Index Cond: \(+id = ANY/,
      );
      expect(plan).not.toMatch(/Seq Scan on (calls\w*|_private_jobs)/);
      // The batch's own day alone: the other partitions are pruned, when
      // planned (custom plans) or when the generic plan starts.
      expect(plan.match(/Index Scan using calls_\w*pkey/g)).toHaveLength(1);
    }
  });
});

describe('record_attempts (workers of 0.1.0)', () => {
  it('records through record_outcomes and returns a row per outcome', async () => {
    const [ok, temporary] = await running(2);
    const old = (call: { call_id: string; job_id: string }, status: string) => ({
      ...outcome(call, status),
      started_ms: undefined,
      started_at: '2026-01-02T03:04:05.678Z',
      finished_at: '2026-01-02T03:04:05.690Z',
      worker: 'w-old',
    });
    const { rows } = await db.pool.query('select * from pgdispatch.record_attempts($1::jsonb)', [
      JSON.stringify([old(ok!, 'ok'), old(temporary!, 'temporary_error')]),
    ]);
    expect(rows.map((r) => [r.call_id, r.call_status, r.recorded]).sort()).toEqual(
      [
        [ok!.call_id, 'succeeded', true],
        [temporary!.call_id, 'retrying', true],
      ].sort(),
    );
    const attempts = await db.pool.query(
      `select worker, started_at from pgdispatch.attempts where call_id = any($1::bigint[])`,
      [[ok!.call_id, temporary!.call_id]],
    );
    expect(attempts.rows.map((a) => [a.worker, (a.started_at as Date).toISOString()])).toEqual([
      ['w-old', '2026-01-02T03:04:05.678Z'],
      ['w-old', '2026-01-02T03:04:05.678Z'],
    ]);
  });
});

describe("a call's attempts (no foreign key since 0009)", () => {
  it('go with their call, whether it is deleted or the table truncated', async () => {
    const [kept, deleted] = await running(2);
    await recordOutcomes('w-del', [outcome(kept!, 'ok'), outcome(deleted!, 'ok')]);
    const attemptsOf = async (ids: string[]) =>
      (
        await db.pool.query(
          'select call_id::text from pgdispatch.attempts where call_id = any($1::bigint[])',
          [ids],
        )
      ).rows.map((r) => r.call_id as string);
    expect((await attemptsOf([kept!.call_id, deleted!.call_id])).sort()).toEqual(
      [kept!.call_id, deleted!.call_id].sort(),
    );

    await db.pool.query('delete from pgdispatch.calls where id = $1', [deleted!.call_id]);
    expect(await attemptsOf([kept!.call_id, deleted!.call_id])).toEqual([kept!.call_id]);

    // Last in this file: it empties the history the other tests wrote.
    await db.pool.query('truncate pgdispatch.calls cascade');
    const { rows } = await db.pool.query('select count(*)::int as n from pgdispatch.attempts');
    expect(rows[0].n).toBe(0);
  });
});
