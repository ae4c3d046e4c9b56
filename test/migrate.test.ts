import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadMigrations } from '../src/schema/migrate.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: false });
});
afterAll(() => db.drop());

async function migrateCli(...args: string[]) {
  const child = spawn(process.execPath, ['dist/cli/main.js', 'migrate', ...args], {
    env: { ...process.env, DATABASE_URL: db.url },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const [code] = await once(child, 'exit');
  return { code: code as number, out, err };
}

describe('migrate', () => {
  it('two processes migrating an empty database at once: one applies, the other waits and finds nothing to do', async () => {
    const [a, b] = await Promise.all([migrateCli(), migrateCli()]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect([a.err, b.err]).toEqual(['', '']);
    const outputs = [a.out, b.out].sort();
    expect(outputs[0]).toMatch(/^applied \d+ migration\(s\) to schema pgdispatch: 0001_core, 0002_dispatch/);
    expect(outputs[1]).toBe('schema pgdispatch is up to date\n');
    const { rows } = await db.pool.query('select version, name from pgdispatch.migrations order by version');
    // Every file applied once (numbers are assigned ahead, so they may skip).
    expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
    const gw = await db.pool.query(`select count(*)::int as n from information_schema.schemata where schema_name = 'graphile_worker'`);
    expect(gw.rows[0].n).toBe(1);
  });

  it('running it again is a no-op', async () => {
    const before = await db.pool.query('select version, applied_at from pgdispatch.migrations order by version');
    const again = await migrateCli();
    expect(again).toMatchObject({ code: 0, out: 'schema pgdispatch is up to date\n' });
    const d = db.dispatch();
    expect(await d.migrate()).toEqual({ applied: [] });
    const after = await db.pool.query('select version, applied_at from pgdispatch.migrations order by version');
    expect(after.rows).toEqual(before.rows);
  });

  it('installs into a schema of your choosing', async () => {
    const r = await migrateCli('--schema', 'jobs');
    expect(r.code).toBe(0);
    const d = db.dispatch({ schema: 'jobs' });
    d.func('hello', async () => 'hi');
    const id = await d.dispatch('hello', {});
    const { rows } = await db.pool.query('select function, status from jobs.calls where id = $1', [id]);
    expect(rows[0]).toEqual({ function: 'hello', status: 'pending' });
  });

  it("migrating through the application's own pool prints no warning and leaves the pool as it was", async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const warn = vi.spyOn(console, 'warn');
    try {
      const d = db.dispatch({ pool });
      await d.migrate();
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([]);
      expect([pool.listenerCount('error'), pool.listenerCount('connect')]).toEqual([0, 0]);
    } finally {
      warn.mockRestore();
      await pool.end();
    }
  });

  it('refuses a bad schema name and reports an unreachable database clearly', async () => {
    const bad = await migrateCli('--schema', 'Robert"); drop table students;--');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/invalid schema name/);
    expect(bad.err).not.toMatch(/\n\s+at /); // no stack trace
    const down = await migrateCli('--database-url', 'postgres://root@127.0.0.1:1/nope');
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/^pgdispatch: .*(ECONNREFUSED|database unavailable)/);
  });
});
