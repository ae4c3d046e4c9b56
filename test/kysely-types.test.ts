/**
 * The exported Kysely types match the schema: every pgdispatch table is in
 * PgDispatchDatabase with exactly its columns (the type side checked by
 * `npm run typecheck`, the database side here), and `withSchema` queries work.
 */
import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { PgDispatchDatabase } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

const COLUMNS = {
  calls: [
    'id', 'function', 'input', 'status', 'attempts', 'retry_policy', 'max_attempts', 'priority',
    'idempotency_key', 'created_at', 'next_attempt_at', 'finished_at', 'last_error', 'output',
    'job_id', 'trace_context', 'parent_call_id', 'workflow_version', 'wake_need',
    'wake_steps', 'wake_any',
  ],
  attempts: [
    'id', 'call_id', 'attempt', 'started_at', 'finished_at', 'duration_ms', 'status', 'http_status',
    'error', 'response', 'worker',
  ],
  call_events: ['id', 'call_id', 'at', 'event', 'status', 'attempt', 'reason', 'actor'],
  retry_policies: [
    'name', 'delays', 'base', 'factor', 'cap', 'jitter', 'max_attempts', 'max_age', 'description',
    'updated_at',
  ],
  functions: ['name', 'retry_policy', 'max_attempts', 'updated_at'],
  workers: [
    'id', 'host', 'pid', 'started_at', 'heartbeat_at', 'concurrency', 'functions', 'version',
  ],
  endpoints: [
    'name', 'url', 'secrets', 'retry_policy', 'headers', 'connect_timeout_ms',
    'headers_timeout_ms', 'total_timeout_ms', 'max_response_bytes', 'allow_private_networks',
    'enabled', 'disabled_at', 'disabled_reason', 'failing_since', 'last_success_at',
    'last_failure_at', 'disable_after', 'created_at', 'updated_at', 'max_concurrency',
  ],
  steps: [
    'call_id', 'seq', 'name', 'kind', 'status', 'attempts', 'output', 'error', 'started_at',
    'finished_at', 'child_call_id', 'wake_at', 'signal_key',
  ],
  signals: ['id', 'key', 'payload', 'created_at', 'consumed_at', 'call_id', 'seq'],
  schedules: [
    'name', 'function', 'cron', 'timezone', 'input', 'options', 'enabled', 'catch_up', 'next_tick',
    'last_tick', 'last_call_id', 'error', 'description', 'created_at', 'updated_at', 'changed_by',
  ],
  scheduler_clock: ['id', 'ran_at'],
  debounces: ['function', 'key', 'call_id', 'run_at', 'dispatches'],
  call_keys: ['function', 'idempotency_key', 'call_id'],
  partition_days: ['day', 'created_at', 'retiring_at'],
  flow_keys: ['key', 'concurrency_limit', 'rate_limit', 'rate_interval', 'rate_next', 'updated_at'],
  flow_slots: ['call_id', 'key', 'acquired_at'],
  flow_waits: ['call_id', 'key', 'reason', 'attempt', 'not_before', 'since'],
  origin_concurrency: [
    'origin', 'concurrency_limit', 'max_limit', 'increases', 'decreases', 'last_decrease_at',
    'updated_at',
  ],
  origin_concurrency_changes: ['id', 'origin', 'at', 'from_limit', 'to_limit', 'reason'],
  origin_concurrency_workers: ['origin', 'worker', 'seen_at'],
  attempt_rollups: ['minute', 'function', 'endpoint', 'attempts', 'errors', 'duration_ms_sum', 'histogram'],
  rollup_state: ['name', 'last_id', 'horizon_id', 'horizon_at', 'updated_at'],
} as const;
type Columns = typeof COLUMNS;

// The type side: the interface has these tables and, in each, these columns.
expectTypeOf<keyof PgDispatchDatabase>().toEqualTypeOf<keyof Columns>();
type ColumnsMatch = {
  [T in keyof Columns]: [keyof PgDispatchDatabase[T]] extends [Columns[T][number]]
    ? [Columns[T][number]] extends [keyof PgDispatchDatabase[T]]
      ? true
      : T
    : T;
};
expectTypeOf<ColumnsMatch[keyof Columns]>().toEqualTypeOf<true>();

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe('PgDispatchDatabase', () => {
  it('has every table of the schema, with its columns', async () => {
    const { rows } = await db.pool.query<{ table: string; columns: string[] }>(
      `select c.relname as table, array_agg(a.attname::text order by a.attnum) as columns
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'pgdispatch' and c.relkind in ('r', 'p') and not c.relispartition
          and c.relname not in ('migrations', 'function_files') -- the migrator's bookkeeping
        group by c.relname`,
    );
    const actual = Object.fromEntries(rows.map((r) => [r.table, [...r.columns].sort()]));
    const expected = Object.fromEntries(
      Object.entries(COLUMNS).map(([t, cols]) => [t, [...cols].sort()]),
    );
    expect(actual).toEqual(expected);
  });

  it('queries with withSchema', async () => {
    const k = new Kysely<PgDispatchDatabase>({ dialect: new PostgresDialect({ pool: db.pool }) });
    const policies = await k
      .withSchema('pgdispatch')
      .selectFrom('retry_policies')
      .select(['name', 'max_attempts'])
      .where('name', '=', 'default')
      .execute();
    expect(policies).toEqual([{ name: 'default', max_attempts: 25 }]);
    const endpoints = await k.withSchema('pgdispatch').selectFrom('endpoints').selectAll().execute();
    expectTypeOf<(typeof endpoints)[number]['secrets']>().toEqualTypeOf<string[]>();
    const workers = await k.withSchema('pgdispatch').selectFrom('workers').select('id').execute();
    expect([endpoints, workers]).toEqual([[], []]);
  });
});
