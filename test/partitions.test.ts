/**
 * Partitioned history: ids that name their day's partition, partitions made
 * ahead by the workers' maintenance, a missing partition reported as a
 * health error while dispatch goes on, and retention that drops whole days
 * but never a call that has not finished.
 */
import { get } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropPartitions, Retention } from '../src/maintain/retention.js';
import { type Dispatch, retryCalls } from '../src/index.js';
import { runtimeOf } from '../src/sql/runtime.js';
import {
  createTestDatabase,
  eventually,
  makeDay as makeDaySupport,
  quietLogger,
  type TestDatabase,
} from './support/db.js';

let db: TestDatabase;
let d: Dispatch;
const q = (text: string, values: unknown[] = []) => db.pool.query(text, values);
const today = Math.floor(Date.now() / 86_400_000);
const DAY_MS = 86_400_000;
/** The first id of a day's partition. */
const base = (day: number) => BigInt(day) << 33n;
const dayOf = (id: string | bigint) => Number(BigInt(id) >> 33n);
const partitionName = (table: string, day: number) =>
  `${table}_p${new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '')}`;

beforeAll(async () => {
  db = await createTestDatabase();
  d = db.dispatch();
  d.func('part_fn', async (input: { n: number }) => ({ n: input.n }), { retryPolicy: 'quick' });
  await q(`insert into pgdispatch.retry_policies (name, delays, jitter, max_attempts)
           values ('quick', array[interval '100 milliseconds'], 0, 5)`);
  await d.migrate();
  await q(`select pgdispatch.register_functions($1::jsonb, true)`, [
    JSON.stringify([{ name: 'part_fn', retry_policy: 'quick', max_attempts: null }]),
  ]);
});
afterAll(() => db?.drop());

async function partitionsOf(table: string): Promise<string[]> {
  const { rows } = await q(
    `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = ('pgdispatch.' || $1)::regclass order by 1`,
    [table],
  );
  return rows.map((r) => r.relname);
}

const makeDay = (day: number) => makeDaySupport(db.pool, day);

function fetchText(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('partitioned history', () => {
  it('puts calls made before any daily partition into the legacy one, and reports the gap', async () => {
    const id = await d.dispatch('part_fn', { n: 0 });
    expect(BigInt(id) < 2n ** 33n).toBe(true);
    const { rows } = await q(
      'select tableoid::regclass::text as part from pgdispatch.calls where id = $1',
      [id],
    );
    expect(rows[0].part).toBe('pgdispatch.calls_legacy');
    const h = (await q('select * from pgdispatch.partition_health()')).rows[0];
    expect(h).toMatchObject({ today, newest: null, missing: true, days: 0 });
  });

  it('a worker makes the days ahead; new ids name today, and a lookup by id reads one partition', async () => {
    const worker = await d.worker({
      retention: false,
      partitions: { daysAhead: 3 },
      metricsPort: 0,
      pollIntervalMs: 50,
    });
    try {
      await eventually(async () => (await partitionsOf('calls')).length === 5, {
        message: 'the legacy partition and four days',
      });
      for (const t of ['calls', 'attempts', 'call_events', 'steps']) {
        expect(await partitionsOf(t)).toEqual(
          [`${t}_legacy`, ...[0, 1, 2, 3].map((i) => partitionName(t, today + i))].sort(),
        );
      }
      await eventually(async () => {
        const health = JSON.parse((await fetchText(worker.metricsPort!, '/healthz')).body);
        return health.partitions === 'ok' && health.ok === true;
      });
      const metrics = (await fetchText(worker.metricsPort!, '/metrics')).body;
      expect(metrics).toMatch(/^pgdispatch_partitions_missing 0$/m);
      expect(metrics).toMatch(/^pgdispatch_partitions_days_ahead 3$/m);

      const id = await d.dispatch('part_fn', { n: 1 });
      expect(dayOf(id)).toBe(today);
      await eventually(async () => (await d.getCall(id))?.status === 'succeeded');
      const plan = (
        await q(
          'explain (analyze, costs off, timing off, summary off) select * from pgdispatch.calls where id = $1',
          [id],
        )
      ).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      expect(plan).toContain(partitionName('calls', today));
      expect(plan).not.toMatch(/calls_legacy|Append/);
      const attempts = (
        await q(
          'select tableoid::regclass::text as part from pgdispatch.attempts where call_id = $1',
          [id],
        )
      ).rows;
      expect(attempts).toEqual([{ part: `pgdispatch.${partitionName('attempts', today)}` }]);
    } finally {
      await worker.stop();
    }
  });

  it('keeps idempotency keys unique across partitions, in call_keys', async () => {
    const a = await d.dispatch('part_fn', { n: 2 }, { idempotencyKey: 'order-7' });
    const b = await d.dispatch('part_fn', { n: 3 }, { idempotencyKey: 'order-7' });
    expect(b).toBe(a);
    const { rows } = await q(
      `select call_id::text from pgdispatch.call_keys where function = 'part_fn' and idempotency_key = 'order-7'`,
    );
    expect(rows).toEqual([{ call_id: a }]);
    expect(
      (await q(`select count(*)::int as n from pgdispatch.calls where idempotency_key = 'order-7'`))
        .rows[0].n,
    ).toBe(1);
  });

  it('with the maintenance behind, dispatch goes on into the newest partition; health and logs say so', async () => {
    // Days from today on vanish (as if the maintainer stopped days ago), yesterday's stays.
    await makeDay(today - 1);
    await q(
      `delete from graphile_worker._private_jobs j using pgdispatch.calls c
              where c.job_id = j.id and c.id >= $1`,
      [String(base(today))],
    );
    await q('delete from pgdispatch.calls where id >= $1', [String(base(today))]);
    for (let day = today; day <= today + 3; day++) {
      for (const t of ['steps', 'attempts', 'call_events', 'calls']) {
        await q(`drop table pgdispatch.${partitionName(t, day)}`);
      }
    }
    await q('delete from pgdispatch.partition_days where day >= $1', [today]);

    const id = await d.dispatch('part_fn', { n: 4 });
    expect(dayOf(id)).toBe(today - 1);
    // Another maintainer holds the election lock and makes nothing.
    const holder = await db.pool.connect();
    await holder.query(`select pg_advisory_lock(hashtext('pgdispatch:partitions'))`);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const late = db.dispatch({ logger });
    late.func('part_fn', async (input: { n: number }) => ({ n: input.n }), {
      retryPolicy: 'quick',
    });
    const worker = await late.worker({
      retention: false,
      partitions: { daysAhead: 2, intervalMs: 200 },
      metricsPort: 0,
      pollIntervalMs: 50,
    });
    try {
      await eventually(async () =>
        lines.some((l) => /"level":50.*today or tomorrow has no partition/.test(l)),
      );
      const health = await fetchText(worker.metricsPort!, '/healthz');
      expect(health.status).toBe(503);
      expect(JSON.parse(health.body)).toMatchObject({ ok: false, partitions: 'missing' });
      const metrics = (await fetchText(worker.metricsPort!, '/metrics')).body;
      expect(metrics).toMatch(/^pgdispatch_partitions_missing 1$/m);
      expect(metrics).toMatch(/^pgdispatch_partitions_days_ahead -1$/m);
      // Dispatch and the call's run go on meanwhile.
      await eventually(async () => (await late.getCall(id))?.status === 'succeeded');
      expect(dayOf(await late.dispatch('part_fn', { n: 5 }))).toBe(today - 1);

      await holder.query(`select pg_advisory_unlock(hashtext('pgdispatch:partitions'))`);
      await eventually(
        async () => JSON.parse((await fetchText(worker.metricsPort!, '/healthz')).body).ok,
      );
      expect(lines.some((l) => /today and tomorrow have partitions again/.test(l))).toBe(true);
    } finally {
      holder.release();
      await worker.stop();
    }
    expect(dayOf(await d.dispatch('part_fn', { n: 6 }))).toBe(today);
  });
});

describe('retention by partition', () => {
  const old = today - 40;
  const busy = today - 39;
  let pending: string;
  let retrying: string;

  beforeAll(async () => {
    await makeDay(old);
    await makeDay(busy);
    // A day of finished calls, each with an attempt, an event, a step and a key.
    for (const day of [old, busy]) {
      await q(
        `insert into pgdispatch.calls (id, function, input, status, attempts, retry_policy, idempotency_key,
                                       created_at, finished_at)
         select $1::bigint + g, 'part_fn', '{}', (array['succeeded','failed','cancelled'])[1 + g % 3], 1, 'quick',
                'key-' || $2 || '-' || g, now() - interval '40 days', now() - interval '40 days'
           from generate_series(1, 300) g`,
        [String(base(day)), day],
      );
      await q(
        `insert into pgdispatch.attempts (call_id, attempt, started_at, finished_at, duration_ms, status)
         select id, 1, created_at, finished_at, 1, 'ok' from pgdispatch.calls where id >= $1 and id < $2`,
        [String(base(day)), String(base(day + 1))],
      );
      await q(
        `insert into pgdispatch.call_events (call_id, event, status)
         select id, 'cancelled', status from pgdispatch.calls where id >= $1 and id < $2`,
        [String(base(day)), String(base(day + 1))],
      );
      await q(
        `insert into pgdispatch.steps (call_id, seq, name, kind, status)
         select id, 0, 'a', 'step', 'succeeded' from pgdispatch.calls where id >= $1 and id < $2`,
        [String(base(day)), String(base(day + 1))],
      );
      await q(
        `insert into pgdispatch.call_keys (function, idempotency_key, call_id)
         select function, idempotency_key, id from pgdispatch.calls where id >= $1 and id < $2`,
        [String(base(day)), String(base(day + 1))],
      );
    }
    // The busy day also holds a call still pending and one retrying, each with its job.
    const calls = await q(
      `insert into pgdispatch.calls (id, function, input, status, attempts, retry_policy, created_at)
       values ($1, 'part_fn', '{"n": 10}', 'pending', 0, 'quick', now() - interval '40 days'),
              ($2, 'part_fn', '{"n": 11}', 'retrying', 1, 'quick', now() - interval '40 days')
       returning id::text`,
      [String(base(busy) + 1000n), String(base(busy) + 1001n)],
    );
    [pending, retrying] = calls.rows.map((r) => r.id) as [string, string];
    await q(
      `insert into pgdispatch.attempts (call_id, attempt, started_at, finished_at, duration_ms, status, error)
       values ($1, 1, now() - interval '40 days', now() - interval '40 days', 1, 'temporary_error', 'later')`,
      [retrying],
    );
    for (const [id, attempt] of [
      [pending, 1],
      [retrying, 2],
    ] as const) {
      await q(
        `update pgdispatch.calls set job_id = pgdispatch.insert_job('part_fn',
                  pgdispatch.job_payload($1::bigint, $2, input, null), now() + interval '1 hour', 0::smallint)
          where id = $1`,
        [id, attempt],
      );
    }
  });

  it('drops a day whose calls all finished, keeps a day with a call not finished, loses nothing unfinished', async () => {
    const rt = runtimeOf(d);
    const before = (await q('select count(*)::int as n from pgdispatch.calls')).rows[0].n;
    // (The WAL a drop writes, against a DELETE of the same rows, is what bench:scale measures.)
    expect(await dropPartitions(rt, 30 * DAY_MS)).toEqual([old]);
    for (const t of ['calls', 'attempts', 'call_events', 'steps']) {
      const parts = await partitionsOf(t);
      expect(parts).not.toContain(partitionName(t, old));
      expect(parts).toContain(partitionName(t, busy));
    }
    const keys = async (day: number) =>
      (
        await q(
          'select count(*)::int as n from pgdispatch.call_keys where call_id >= $1 and call_id < $2',
          [String(base(day)), String(base(day + 1))],
        )
      ).rows[0].n;
    expect(await keys(old)).toBe(0);
    expect(await keys(busy)).toBe(300);
    expect((await q('select count(*)::int as n from pgdispatch.calls')).rows[0].n).toBe(
      before - 300,
    );
    expect(
      (await q('select day from pgdispatch.partition_days where day < $1 order by day', [today]))
        .rows,
    ).toEqual(expect.arrayContaining([{ day: busy }]));
    expect(
      (await q('select count(*)::int as n from pgdispatch.partition_days where day = $1', [old]))
        .rows[0].n,
    ).toBe(0);

    // The worker's round: nothing more to drop, the kept day's finished calls pruned in batches.
    const retention = new Retention(
      rt,
      { olderThanMs: 30 * DAY_MS, batchSize: 100 },
      quietLogger(),
    );
    expect(await retention.runOnce()).toEqual({ days: [], deleted: 300 });
    const left = await q(
      `select id::text, status from pgdispatch.calls where id >= $1 and id < $2 order by id`,
      [String(base(busy)), String(base(busy + 1))],
    );
    expect(left.rows).toEqual([
      { id: pending, status: 'pending' },
      { id: retrying, status: 'retrying' },
    ]);
    expect(await keys(busy)).toBe(0);
    expect(
      (await q('select count(*)::int as n from pgdispatch.attempts where call_id = $1', [retrying]))
        .rows[0].n,
    ).toBe(1);

    // The kept calls still run: their jobs come due, and both succeed.
    await q(
      `update graphile_worker._private_jobs set run_at = now()
              where id in (select job_id from pgdispatch.calls where id = any($1::bigint[]))`,
      [[pending, retrying]],
    );
    const worker = await d.worker({ retention: false, partitions: false, pollIntervalMs: 50 });
    try {
      await eventually(async () => {
        const { rows } = await q(
          'select status from pgdispatch.calls where id = any($1::bigint[])',
          [[pending, retrying]],
        );
        return rows.length === 2 && rows.every((r) => r.status === 'succeeded');
      });
    } finally {
      await worker.stop();
    }
    const history = await d.getHistory(retrying);
    expect(history.map((h) => [h.event, h.status])).toEqual([
      ['dispatched', 'pending'],
      ['attempt', 'temporary_error'],
      ['attempt', 'ok'],
    ]);
  });

  it('keeps a day whose calls finished within the window, and never today nor the newest day', async () => {
    const rt = runtimeOf(d);
    const recent = today - 2;
    await makeDay(recent);
    await q(
      `insert into pgdispatch.calls (id, function, input, status, attempts, retry_policy, created_at, finished_at)
       values ($1, 'part_fn', '{}', 'succeeded', 1, 'quick', now() - interval '2 days', now() - interval '2 days')`,
      [String(base(recent) + 1n)],
    );
    expect(await dropPartitions(rt, 30 * DAY_MS)).toEqual([]);
    // With a window of 0, the finished day goes; today's and the days ahead stay.
    expect(await dropPartitions(rt, 0)).toEqual(expect.arrayContaining([recent]));
    const days = (await q('select day from pgdispatch.partition_days order by day')).rows.map(
      (r) => r.day,
    );
    expect(days).toContain(today);
    expect(days.every((day: number) => day >= today || day === busy)).toBe(true);
  });
  it('refuses a manual retry once a day is marked, and a later round finishes a drop cut short', async () => {
    const rt = runtimeOf(d);
    const gone = today - 45;
    await makeDay(gone);
    const { rows } = await q(
      `insert into pgdispatch.calls (id, function, input, status, attempts, retry_policy, created_at, finished_at)
       select $1::bigint + g, 'part_fn', '{}', 'failed', 1, 'quick', now() - interval '45 days', now() - interval '45 days'
         from generate_series(1, 10) g returning id::text`,
      [String(base(gone))],
    );
    const failed = rows[0].id as string;
    // The first step of a round: the day is marked; a retry of its calls is refused from then on.
    expect((await q(`select pgdispatch.partition_retire('30 days') as day`)).rows[0].day).toBe(
      gone,
    );
    await expect(q('select pgdispatch.retry_call($1)', [failed])).rejects.toMatchObject({
      code: 'PD005',
      message: expect.stringContaining('past retention'),
    });
    // A bulk retry passes the marked day's calls over, and fails nothing.
    expect(await retryCalls(d, { status: 'failed', function: 'part_fn' })).toEqual({
      matched: 10,
      changed: 0,
    });
    expect(
      (
        await q(
          `select count(*)::int as n from pgdispatch.calls where id = any($1) and status = 'failed'`,
          [rows.map((r) => r.id)],
        )
      ).rows[0].n,
    ).toBe(10);
    // Another maintainer leaves a day marked moments ago to the one on it.
    expect((await q(`select pgdispatch.partition_retire('30 days') as day`)).rows[0].day).toBe(
      null,
    );
    // A detach cut short: a transaction still reading steps outlives the
    // detach's wait, and the round fails, cancelled, with the day marked.
    await q(
      `update pgdispatch.partition_days set retiring_at = now() - interval '6 minutes' where day = $1`,
      [gone],
    );
    const reader = await db.pool.connect();
    try {
      await reader.query('begin');
      await reader.query('select count(*) from pgdispatch.steps');
      const started = Date.now();
      await expect(dropPartitions(rt, 30 * DAY_MS, undefined, 300)).rejects.toMatchObject({
        code: '57014',
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      await reader.query('commit');
    } finally {
      reader.release();
    }
    expect(
      (await q('select parent, part, pending from pgdispatch.partition_attached($1)', [gone])).rows,
    ).toEqual(
      ['steps', 'attempts', 'call_events', 'calls'].map((parent) => ({
        parent,
        part: partitionName(parent, gone),
        pending: parent === 'steps',
      })),
    );
    // Half detached, the day's calls are still there and still refuse a retry.
    await expect(q('select pgdispatch.retry_call($1)', [failed])).rejects.toMatchObject({
      code: 'PD005',
    });
    // The mark's lease runs out; the next round finishes the detach and drops the day.
    await q(
      `update pgdispatch.partition_days set retiring_at = now() - interval '6 minutes' where day = $1`,
      [gone],
    );
    expect(await dropPartitions(rt, 30 * DAY_MS)).toEqual([gone]);
    for (const t of ['calls', 'attempts', 'call_events', 'steps']) {
      expect(await partitionsOf(t)).not.toContain(partitionName(t, gone));
      expect(
        (await q('select to_regclass($1) as r', [`pgdispatch.${partitionName(t, gone)}`])).rows[0]
          .r,
      ).toBe(null);
    }
    await expect(q('select pgdispatch.retry_call($1)', [failed])).rejects.toMatchObject({
      code: 'PD004',
    });
  });

  it('drops a day while calls are dispatched and run, and none of them fails', async () => {
    const rt = runtimeOf(d);
    const day = today - 50;
    await makeDay(day);
    await q(
      `insert into pgdispatch.calls (id, function, input, status, attempts, retry_policy, created_at, finished_at)
       select $1::bigint + g, 'part_fn', '{}', 'succeeded', 1, 'quick', now() - interval '50 days', now() - interval '50 days'
         from generate_series(1, 1000) g`,
      [String(base(day))],
    );
    const worker = await d.worker({
      retention: false,
      partitions: false,
      pollIntervalMs: 50,
      concurrency: 20,
    });
    const ids: string[] = [];
    let stop = false;
    const load = (async () => {
      for (let n = 0; !stop; n++) ids.push(await d.dispatch('part_fn', { n }));
    })();
    try {
      await eventually(async () => ids.length >= 20);
      expect(await dropPartitions(rt, 30 * DAY_MS)).toEqual([day]);
      await eventually(async () => ids.length >= 40);
    } finally {
      stop = true;
      await load;
    }
    try {
      await eventually(async () => {
        const { rows } = await q(
          `select count(*) filter (where status = 'succeeded')::int as ok, count(*)::int as n
             from pgdispatch.calls where id = any($1::bigint[])`,
          [ids],
        );
        return rows[0].n === ids.length && rows[0].ok === ids.length;
      });
    } finally {
      await worker.stop();
    }
    expect(await partitionsOf('calls')).not.toContain(partitionName('calls', day));
  });
});
