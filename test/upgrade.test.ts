/**
 * A database migrated by the release whose migrations still held the SQL
 * function bodies (test/fixtures/migrations-6193db1, applied the way that
 * release applied them), with calls in every status written by that
 * release's SQL, upgrades with the current code: nothing warns, the waiting
 * calls run to completion, the history stays readable, and the schema is the
 * one a fresh install builds.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Logger, runMigrations } from 'graphile-worker';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatch } from '../src/index.js';
import { renderMigration } from '../src/schema/migrate.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { schemaSnapshot } from './support/schema-snapshot.js';

const FIXTURES = new URL('./fixtures/migrations-6193db1/', import.meta.url);

let old: TestDatabase;
let fresh: TestDatabase;
beforeAll(async () => {
  [old, fresh] = await Promise.all([createTestDatabase({ migrated: false }), createTestDatabase()]);
});
afterAll(() => Promise.all([old?.drop(), fresh?.drop()]));

/** What that release's migrate() did: graphile-worker's schema, then each file once. */
async function migrateAsReleased(db: TestDatabase): Promise<void> {
  await runMigrations({ pgPool: db.pool, logger: new Logger(() => () => undefined) });
  await db.pool.query('create schema pgdispatch');
  await db.pool.query(`create table pgdispatch.migrations (
      version integer primary key, name text not null, checksum text,
      applied_at timestamptz not null default now())`);
  for (const file of readdirSync(FIXTURES).sort()) {
    const sql = readFileSync(new URL(file, FIXTURES), 'utf8');
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(renderMigration(sql, 'pgdispatch'));
      await client.query(
        'insert into pgdispatch.migrations (version, name, checksum) values ($1, $2, $3)',
        [
          Number(file.slice(0, 4)),
          file.replace(/\.sql$/, ''),
          createHash('sha256').update(sql).digest('hex'),
        ],
      );
      await client.query('commit');
    } finally {
      client.release();
    }
  }
}

describe('upgrading a database of the previous release', () => {
  it('keeps its calls and history, runs the waiting calls, and ends with the fresh schema', async () => {
    await migrateAsReleased(old);
    const q = (text: string, values: unknown[] = []) => old.pool.query(text, values);

    // Calls in every status, written by the old release's SQL functions.
    await q(`insert into pgdispatch.retry_policies (name, delays, jitter, max_attempts)
             values ('quick', array[interval '200 milliseconds'], 0, 5)`);
    await q(`select pgdispatch.register_functions($1::jsonb, true)`, [
      JSON.stringify([{ name: 'up_fn', retry_policy: 'quick', max_attempts: null }]),
    ]);
    const ids: Record<string, string> = {};
    for (const name of ['pending', 'retrying', 'succeeded', 'failed', 'cancelled']) {
      const { rows } = await q(`select pgdispatch.dispatch('up_fn', $1::jsonb)::text as id`, [
        JSON.stringify({ name }),
      ]);
      ids[name] = rows[0].id;
    }
    await q('select pgdispatch.cancel_call($1, $2, $3)', [ids['cancelled'], 'test', 'test']);
    const { rows: tasks } = await q(`select id from pgdispatch.task_ids(array['up_fn'])`);
    const { rows: claimed } = await q(
      `select * from pgdispatch.claim_jobs('w-old', $1::int[], 10, (-32768)::smallint, '-infinity')`,
      [tasks.map((t) => t.id)],
    );
    const outcomeOf = { retrying: 'temporary_error', succeeded: 'ok', failed: 'permanent_error' };
    const outcomes = claimed
      .map((job) => ({ job, name: (job.payload as { input: { name: string } }).input.name }))
      .filter(({ name }) => name in outcomeOf)
      .map(({ job, name }) => ({
        job_id: job.id,
        call_id: ids[name],
        attempt: 1,
        started_ms: Date.now(),
        duration_ms: 1,
        status: outcomeOf[name as keyof typeof outcomeOf],
        http_status: null,
        error: name === 'succeeded' ? null : 'old release',
        response: null,
        output: name === 'succeeded' ? { by: 'old' } : null,
        retry_after_ms: null,
      }));
    expect(outcomes).toHaveLength(3);
    await q('select * from pgdispatch.record_outcomes($1, $2::jsonb)', [
      'w-old',
      JSON.stringify(outcomes),
    ]);
    // The pending call's job goes back to the queue, as a stopping worker gives it back.
    const pendingJob = claimed.find(
      (j) => (j.payload as { input: { name: string } }).input.name === 'pending',
    );
    await q(`select pgdispatch.return_jobs($1::bigint[], 'w-old')`, [[pendingJob.id]]);
    // A pending call with an idempotency key.
    const { rows: keyed } = await q(
      `select pgdispatch.dispatch('up_fn', '{"name": "keyed"}'::jsonb,
                                  '{"idempotency_key": "order-1"}'::jsonb)::text as id`,
    );

    const statusOf = async () =>
      Object.fromEntries(
        (await q('select id::text, status from pgdispatch.calls')).rows.map((r) => [
          r.id,
          r.status,
        ]),
      );
    expect(Object.values(await statusOf()).sort()).toEqual([
      'cancelled',
      'failed',
      'pending',
      'pending',
      'retrying',
      'succeeded',
    ]);
    // The history as the old release's schema reads it, to compare after the upgrade.
    const historyQuery = `select call_id::text, at, event, status, attempt, http_status, detail
                            from pgdispatch.call_history order by call_id, at, event`;
    const historyBefore = (await q(historyQuery)).rows;
    const callsBefore = (await q('select * from pgdispatch.calls order by id')).rows;

    // Upgrade with the current code: only the migrations added since, nothing to warn about.
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const d: Dispatch = old.dispatch({ logger });
    const ran: string[] = [];
    d.func(
      'up_fn',
      async (input: { name: string }) => {
        ran.push(input.name);
        return { by: 'new' };
      },
      { retryPolicy: 'quick' },
    );
    const released = new Set(readdirSync(FIXTURES));
    const added = readdirSync(new URL('../migrations/', import.meta.url))
      .filter((f) => f.endsWith('.sql') && !released.has(f))
      .sort()
      .map((f) => f.replace(/\.sql$/, ''));
    expect(await d.migrate()).toEqual({ applied: added });
    expect(lines.filter((l) => /"level":(40|50)/.test(l))).toEqual([]);

    // Every call is there, unchanged, in the legacy partition; the history reads the same.
    // (The columns later migrations added are new; those of the old release are unchanged.)
    const callsAfter = (await q('select * from pgdispatch.calls order by id')).rows;
    expect(
      callsAfter.map((row, i) =>
        Object.fromEntries(Object.keys(callsBefore[i] ?? {}).map((k) => [k, row[k]])),
      ),
    ).toEqual(callsBefore);
    expect(callsAfter).toHaveLength(callsBefore.length);
    expect((await q(historyQuery)).rows).toEqual(historyBefore);
    const { rows: parts } = await q(
      'select distinct tableoid::regclass::text as part from pgdispatch.calls',
    );
    expect(parts).toEqual([{ part: 'pgdispatch.calls_legacy' }]);
    // The old call's idempotency key still names it.
    expect(await d.dispatch('up_fn', { name: 'keyed again' }, { idempotencyKey: 'order-1' })).toBe(
      keyed[0].id,
    );

    const worker = await d.worker({ pollIntervalMs: 50, retention: false });
    try {
      await eventually(
        async () => {
          const s = await statusOf();
          return (
            s[ids['pending']!] === 'succeeded' &&
            s[ids['retrying']!] === 'succeeded' &&
            s[keyed[0].id] === 'succeeded'
          );
        },
        { timeoutMs: 15_000, message: 'the pending and the retrying call succeeded' },
      );
      // The worker made today's partitions: a new call lands there, and runs.
      await eventually(
        async () =>
          (await q('select missing from pgdispatch.partition_health()')).rows[0].missing === false,
        { message: 'the daily partitions were made' },
      );
      const fresh = await d.dispatch('up_fn', { name: 'new' });
      expect(Number(BigInt(fresh) >> 33n)).toBe(Math.floor(Date.now() / 86_400_000));
      const { rows: where } = await q(
        'select tableoid::regclass::text as part from pgdispatch.calls where id = $1',
        [fresh],
      );
      expect(where[0].part).toMatch(/^pgdispatch\.calls_p\d{8}$/);
      await eventually(async () => (await statusOf())[fresh] === 'succeeded', {
        message: 'the new call succeeded',
      });
    } finally {
      await worker.stop();
    }
    expect(ran.sort()).toEqual(['keyed', 'new', 'pending', 'retrying']);
    const s = await statusOf();
    expect(s[ids['failed']!]).toBe('failed');
    expect(s[ids['cancelled']!]).toBe('cancelled');
    expect(s[ids['succeeded']!]).toBe('succeeded');
    const retried = await d.getHistory(ids['retrying']!);
    expect(retried.map((h) => [h.event, h.status])).toEqual([
      ['dispatched', 'pending'],
      ['attempt', 'temporary_error'],
      ['attempt', 'ok'],
    ]);
    expect((await d.getCall(ids['succeeded']!))?.output).toEqual({ by: 'old' });
    expect((await d.getHistory(ids['cancelled']!)).map((h) => h.event)).toEqual([
      'dispatched',
      'cancelled',
    ]);

    // The same schema as a fresh install, bookkeeping included.
    expect(await schemaSnapshot(old.pool)).toBe(await schemaSnapshot(fresh.pool));
    const checksums = async (db: TestDatabase) =>
      (await db.pool.query('select version, checksum from pgdispatch.migrations order by version'))
        .rows;
    expect(await checksums(old)).toEqual(await checksums(fresh));
    const files = async (db: TestDatabase) =>
      (await db.pool.query('select name, checksum from pgdispatch.function_files order by name'))
        .rows;
    expect(await files(old)).toEqual(await files(fresh));
  });
});
