/**
 * pgdispatch behind PgBouncer in transaction mode (Debian's pgbouncer; 1.18
 * has no prepared statements in that mode): dispatch, the API, a worker and
 * the CLI through the pooler, the worker's LISTEN and claims on the direct URL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  eventually,
  makeDay,
  quietLogger,
  type TestDatabase,
  within,
} from './support/db.js';
import { pgbouncerVersion, startPgBouncer, type PgBouncer } from './support/pgbouncer.js';
import { CLI, ROOT, runCli } from './support/processes.js';
import { createDispatch, dropFinishedPartitions } from '../src/index.js';

const version = pgbouncerVersion();
if (!version) {
  console.warn('pgbouncer tests skipped: no pgbouncer binary (apt-get install pgbouncer)');
}

describe.skipIf(!version)(`through PgBouncer in transaction mode (${version})`, () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  let pooled: pg.Pool;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    // Three server connections for up to ten clients: sessions share them.
    bouncer = await startPgBouncer(db.url, 3);
    pooled = new pg.Pool({ connectionString: bouncer.url, max: 10 });
    pooled.on('error', () => undefined);
    await db.pool.query(
      'create table runs (call_id bigint, attempt int, pid int, at timestamptz default clock_timestamp())',
    );
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await pooled?.end();
    await db?.drop();
    await bouncer?.stop();
  });

  it('named prepared statements break behind it, which is why they are off there', async () => {
    const d = createDispatch({
      connectionString: bouncer.url,
      preparedStatements: true,
      logger: quietLogger(),
      maxPoolSize: 10,
    });
    d.func('noop', () => undefined);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) => d.dispatch('noop', { i })),
      );
      const codes = results
        .filter((r) => r.status === 'rejected')
        .map((r) => {
          const e = (r as PromiseRejectedResult).reason as {
            code?: string;
            cause?: { code?: string };
          };
          return e.cause?.code ?? e.code;
        });
      expect(codes.length).toBeGreaterThan(0);
      for (const code of codes) expect(['42P05', '26000']).toContain(code);
    } finally {
      await d.close();
    }
  });

  it('dispatch in user transactions, the API and a worker: the worker wakes by NOTIFY', async () => {
    const d = createDispatch({
      connectionString: bouncer.url,
      directConnectionString: db.url,
      logger: quietLogger(),
      maxPoolSize: 10,
    });
    expect(d.preparedStatements).toBe(false);
    const seen: string[] = [];
    d.func('record', async (input: { n: number }, ctx) => {
      seen.push(ctx.callId);
      return { n: input.n };
    });
    try {
      await d.migrate();
      // A minute's poll: only the notification sent through the pooler can wake it.
      const worker = await d.worker({ concurrency: 10, pollIntervalMs: 60_000, retention: false });
      try {
        // The worker's session LISTENs on the direct connection.
        await eventually(
          async () =>
            (
              await db.pool.query(
                `select count(*)::int as n from pg_stat_activity
                  where datname = current_database() and query ilike 'listen %'`,
              )
            ).rows[0].n === 1,
          { timeoutMs: 5_000, message: 'one LISTEN session' },
        );
        // One dispatch outside a transaction; then 60 user transactions
        // share the three server connections.
        const first = await d.dispatch('record', { n: -1 });
        const ids = await Promise.all(
          Array.from({ length: 60 }, async (_, n) => {
            const client = await pooled.connect();
            try {
              await client.query('begin');
              const id = await d.dispatch('record', { n }, { tx: client });
              await client.query('commit');
              return id;
            } finally {
              client.release();
            }
          }),
        );
        const many = await d.dispatchMany('record', [{ n: 100 }, { n: 101 }]);
        const all = [first, ...ids, ...many];
        await eventually(async () => seen.length >= all.length, {
          timeoutMs: 15_000,
          message: 'every call ran',
        });
        await eventually(
          async () =>
            (
              await db.pool.query(
                `select count(*)::int as n from pgdispatch.calls where status = 'succeeded'`,
              )
            ).rows[0].n === all.length,
          { message: 'every outcome recorded' },
        );
        expect(new Set(seen)).toEqual(new Set(all));
        // The API's reads, through the pooler.
        const call = await d.getCall(ids[0]!);
        expect(call?.status).toBe('succeeded');
        expect(call?.output).toEqual({ n: 0 });
        expect((await d.getAttempts(ids[0]!)).map((a) => a.status)).toEqual(['ok']);
        expect((await d.getHistory(ids[0]!)).length).toBeGreaterThan(0);
        const later = await d.dispatch(
          'record',
          { n: 200 },
          { runAt: new Date(Date.now() + 3_600_000) },
        );
        expect(await d.cancel(later, { reason: 'test' })).toBe(true);
        expect(await d.retry(later)).toBe(true);
      } finally {
        await worker.stop();
      }
    } finally {
      await d.close();
    }
  });

  it('with one server connection: a first dispatch in a transaction needs no other, retention leaves no setting on it', async () => {
    await db.dispatch().migrate();
    const single = await startPgBouncer(db.url, 1);
    const app = new pg.Pool({ connectionString: single.url, max: 5 });
    app.on('error', () => undefined);
    // One pooled URL only: no named statements (docs/scale.md).
    const d = createDispatch({
      connectionString: single.url,
      preparedStatements: false,
      logger: quietLogger(),
      maxPoolSize: 5,
    });
    // New to the database: the dispatch registers it first.
    d.func('single_server', () => undefined);
    try {
      const client = await app.connect();
      try {
        await client.query('begin');
        const id = await within(
          d.dispatch('single_server', { n: 1 }, { tx: client }),
          5_000,
          'dispatch waited for another server connection',
        );
        await client.query('commit');
        expect(id).toMatch(/^\d+$/);
      } finally {
        client.release();
      }
      const { rows } = await db.pool.query(
        `select count(*)::int as n from pgdispatch.calls where function = 'single_server'`,
      );
      expect(rows[0].n).toBe(1);

      // Retention through the pooler: a day's partitions detached and
      // dropped, and nothing of its session stays on the one server
      // connection the next client gets.
      await db.pool.query('select pgdispatch.partitions_create(1)'); // today's: the newest stays
      const day = Math.floor(Date.now() / 86_400_000) - 45;
      await makeDay(db.pool, day);
      expect(await dropFinishedPartitions(d, { olderThanMs: 30 * 86_400_000 })).toEqual([day]);
      expect((await app.query('show lock_timeout')).rows[0].lock_timeout).toBe('0');
    } finally {
      await d.close();
      await app.end();
      await single.stop();
    }
  });

  it('the CLI and a worker process with DATABASE_URL on the pooler and DATABASE_DIRECT_URL', async () => {
    const env = { DATABASE_URL: bouncer.url, DATABASE_DIRECT_URL: db.url, LOG_LEVEL: 'warn' };
    const migrated = await runCli(['migrate'], env);
    expect(migrated.stderr).toBe('');
    expect(migrated.code).toBe(0);
    const child = spawn(
      process.execPath,
      [
        CLI,
        'worker',
        '--module',
        'test/fixtures/counting-functions.mjs',
        '--poll-interval',
        '60000',
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let out = '';
    child.stderr?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    // Dispatched from SQL through the pooler, as another language would.
    await pooled.query(
      `insert into pgdispatch.functions (name, retry_policy) values ('count', 'default') on conflict do nothing`,
    );
    const { rows } = await pooled.query('select pgdispatch.dispatch_many($1, $2::jsonb) as id', [
      'count',
      JSON.stringify(Array.from({ length: 50 }, () => ({}))),
    ]);
    await eventually(
      async () => (await db.pool.query('select count(*)::int as n from runs')).rows[0].n === 50,
      { timeoutMs: 20_000, message: `50 runs (worker output: ${out})` },
    );
    const calls = await runCli(['calls', '--status', 'succeeded', '--function', 'count'], env);
    expect(calls.stderr).toBe('');
    expect(calls.code).toBe(0);
    expect(calls.stdout).toContain(String(rows[0].id));
    const show = await runCli(['show', String(rows[0].id)], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/succeeded/);
    const stats = await runCli(['stats'], env);
    expect(stats.code).toBe(0);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(out).not.toMatch(/prepared statement/);
  });
});
