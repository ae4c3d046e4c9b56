/**
 * Whatever a handler or a receiver produces, its attempt is recorded: lone
 * surrogates and NULs are replaced, errors are cut on code points, and an
 * outcome Postgres still refuses is recorded without the part it refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dispatch, OutcomeError, type WorkerHandle } from '../src/index.js';
import { Recorder } from '../src/record/recorder.js';
import { runtimeOf } from '../src/sql/runtime.js';
import { createTestDatabase, eventually, quietLogger, type TestDatabase } from './support/db.js';
import { type Receiver, startReceiver } from './support/receiver.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
let receiver: Receiver;

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startReceiver((_r, _n, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(Buffer.from('before\u0000after'));
  });
  dispatch = db.dispatch({ webhook: { allowPrivateNetworks: true } });
  dispatch.func('returns', async (input: { kind: string }) => {
    if (input.kind === 'surrogate') return { s: 'a\ud800', [`k\udc00`]: 1 };
    if (input.kind === 'nul') return { s: 'a\u0000b' };
    if (input.kind === 'nan') return { x: Number.NaN, y: [Number.POSITIVE_INFINITY] };
    return { kind: input.kind };
  });
  dispatch.func('throws', async (input: { kind: string }, ctx) => {
    if (input.kind === 'surrogate') throw new Error('bad \ud800 message');
    if (input.kind === 'split-emoji') throw new Error(`${'a'.repeat(1999)}😀😀`);
    if (input.kind === 'bogus-status') throw new OutcomeError('bogus' as never, 'made by hand');
    if (input.kind === 'unreadable') {
      throw {
        temporary() {
          throw new Error('temporary() throws');
        },
      };
    }
    if (input.kind === 'report') {
      ctx.report({
        httpStatus: 70_000,
        response: { body: 'x\udfff', headers: { 'x-\ud800': 'v' } },
      });
      throw new Error('reported');
    }
    throw new Error('plain');
  });
  worker = await dispatch.worker({ concurrency: 10, pollIntervalMs: 100 });
});
afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await db?.drop();
});

interface Row {
  status: string;
  attempts: number;
  last_error: string | null;
  output: unknown;
  a_status: string | null;
  a_error: string | null;
  a_http: number | null;
  a_response: unknown;
}

async function finished(id: string): Promise<Row> {
  return eventually(
    async () => {
      const { rows } = await db.pool.query<Row>(
        `select c.status, c.attempts, c.last_error, c.output, a.status as a_status,
                a.error as a_error, a.http_status as a_http, a.response as a_response
           from pgdispatch.calls c left join pgdispatch.attempts a on a.call_id = c.id
          where c.id = $1 order by a.attempt desc limit 1`,
        [id],
      );
      const r = rows[0];
      return r && r.attempts > 0 ? r : undefined;
    },
    { timeoutMs: 8_000, message: `call ${id} recorded an attempt` },
  );
}

describe('outcomes are always recordable', () => {
  it('an output with lone surrogates succeeds with them replaced, and says so', async () => {
    const r = await finished(await dispatch.dispatch('returns', { kind: 'surrogate' }));
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ s: 'a\ufffd', 'k\ufffd': 1 });
    expect(r.a_error).toMatch(/output: 2 NUL or lone surrogates replaced by U\+FFFD/);
  });

  it('an output with a NUL succeeds with it replaced', async () => {
    const r = await finished(await dispatch.dispatch('returns', { kind: 'nul' }));
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ s: 'a\ufffdb' });
  });

  it('NaN and Infinity in an output are stored as null, and the attempt says so', async () => {
    const r = await finished(await dispatch.dispatch('returns', { kind: 'nan' }));
    expect(r.status).toBe('succeeded');
    expect(r.output).toEqual({ x: null, y: [null] });
    expect(r.a_error).toMatch(/output: 2 values JSON has no form for \(NaN, ±Infinity, invalid Date\) stored as null/);
  });

  it('an error message with a lone surrogate fails the call with it replaced', async () => {
    const r = await finished(await dispatch.dispatch('throws', { kind: 'surrogate' }));
    expect(r).toMatchObject({ status: 'failed', a_status: 'permanent_error' });
    expect(r.last_error).toBe('bad \ufffd message');
  });

  it('a long error is cut on code points, never inside a surrogate pair', async () => {
    const r = await finished(await dispatch.dispatch('throws', { kind: 'split-emoji' }));
    expect(r.status).toBe('failed');
    expect(r.last_error).toBe(`${'a'.repeat(1999)}😀…`);
  });

  it('an OutcomeError with an unknown status is recorded as permanent_error', async () => {
    const r = await finished(await dispatch.dispatch('throws', { kind: 'bogus-status' }));
    expect(r).toMatchObject({ status: 'failed', a_status: 'permanent_error' });
    expect(r.last_error).toMatch(
      /made by hand \(unknown outcome "bogus" recorded as permanent_error\)/,
    );
  });

  it('a thrown value that cannot be read is a permanent_error', async () => {
    const r = await finished(await dispatch.dispatch('throws', { kind: 'unreadable' }));
    expect(r).toMatchObject({ status: 'failed', a_status: 'permanent_error' });
    expect(r.last_error).toMatch(/could not be read: temporary\(\) throws/);
  });

  it('ctx.report with a lone surrogate and an impossible HTTP status is recorded', async () => {
    const r = await finished(await dispatch.dispatch('throws', { kind: 'report' }));
    expect(r).toMatchObject({ status: 'failed', a_http: null });
    expect(r.a_response).toEqual({ body: 'x\ufffd', headers: { 'x-\ufffd': 'v' } });
    expect(r.last_error).toMatch(
      /^reported \(reported HTTP status 70000 is not one: dropped; response: 2 /,
    );
  });

  it('a receiver answering with a NUL byte: the webhook attempt is recorded', async () => {
    const id = await dispatch.webhook.dispatch({ url: receiver.url, body: { a: 1 } });
    const r = await finished(id);
    expect(r.status).toBe('succeeded');
    expect((r.a_response as { body: string }).body).toBe('before\ufffdafter');
  });
});

describe('the recorder, when Postgres refuses an outcome', () => {
  it('records the bad outcome of a group without what was refused, and the others as given', async () => {
    const fn = dispatch.func('recorder_group', async () => undefined);
    const ids = await fn.dispatchMany([1, 2, 3, 4]);
    const { rows: jobs } = await db.pool.query<{ call_id: string; job_id: string }>(
      `update graphile_worker._private_jobs j set locked_at = now(), locked_by = 'w-group'
         from pgdispatch.calls c where c.job_id = j.id and c.id = any($1::bigint[])
       returning c.id::text as call_id, j.id::text as job_id`,
      [ids],
    );
    const byCall = new Map(jobs.map((j) => [j.call_id, j.job_id]));
    const recorder = new Recorder(db.pool, runtimeOf(dispatch).queries, quietLogger(), 'w-group');
    const base = (id: string) => ({
      job_id: byCall.get(id)!,
      call_id: id,
      attempt: 1,
      started_ms: Date.now(),
      duration_ms: 1,
      status: 'ok' as const,
      http_status: null,
      error: null,
      response: null,
      output: { fine: id },
      retry_after_ms: null,
    });
    // Straight to the recorder: the worker would have made these storable.
    const results = await Promise.all([
      recorder.record(base(ids[0]!)),
      recorder.record({ ...base(ids[1]!), output: { s: 'x\ud800' }, http_status: 99_999 }),
      recorder.record(base(ids[2]!)),
      recorder.record({ ...base(ids[3]!), output: { n: 10n } }),
    ]);
    expect(results.map((r) => r.call_status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    const { rows } = await db.pool.query(
      `select c.id::text, c.status, c.output, a.status as a_status, a.error, a.http_status
         from pgdispatch.calls c join pgdispatch.attempts a on a.call_id = c.id
        where c.id = any($1::bigint[]) order by c.id`,
      [ids],
    );
    expect(rows[0]).toMatchObject({ status: 'succeeded', output: { fine: ids[0] }, error: null });
    expect(rows[2]).toMatchObject({ status: 'succeeded', output: { fine: ids[2] }, error: null });
    expect(rows[1]).toMatchObject({
      status: 'succeeded',
      output: null,
      a_status: 'ok',
      http_status: null,
    });
    expect(rows[1].error).toMatch(
      /^the outcome could not be recorded as it was \(.+\): output and response dropped$/,
    );
    expect(rows[3]).toMatchObject({ status: 'succeeded', output: null, a_status: 'ok' });
    expect(rows[3].error).toMatch(/BigInt/);
    const { rows: history } = await db.pool.query(
      `select event, status from pgdispatch.call_history where call_id = $1 order by at`,
      [ids[1]],
    );
    expect(history.map((h) => h.event)).toEqual(['dispatched', 'attempt']);
  });
});
