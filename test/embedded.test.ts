import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg, { type QueryResultRow } from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ensureDatabase, projectRoot, startEmbeddedPostgres } from '../src/dev/embedded.js';

// Under the project, not os.tmpdir(): the server's unprivileged user must reach it
// when tests run as root, and .pgdata/ is git-ignored.
const dataDir = join(projectRoot(), '.pgdata', `tmp-${randomBytes(4).toString('hex')}`);

async function query<R extends QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function timed<T>(start: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await start();
  return [value, performance.now() - started];
}

describe('embedded Postgres', () => {
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('initialises once, then restarts faster on the same data', async () => {
    const [first, firstMs] = await timed(() => startEmbeddedPostgres({ dataDir, name: 'test' }));
    try {
      expect(first.reused).toBe(false);
      const [row] = await query<{ v: string }>(first.url, 'select version() as v');
      expect(row?.v).toMatch(/^PostgreSQL 17\./);
      await query(first.url, 'create table kept (id int); insert into kept values (42)');
      const [settings] = await query<{ max: string; fsync: string }>(
        first.url,
        "select current_setting('max_connections') as max, current_setting('fsync') as fsync",
      );
      expect(settings).toEqual({ max: '200', fsync: 'off' });
    } finally {
      await first.stop();
    }
    expect(existsSync(join(dataDir, 'pgdata', 'postmaster.pid'))).toBe(false);
    await expect(query(first.url, 'select 1')).rejects.toThrow();

    const [second, secondMs] = await timed(() => startEmbeddedPostgres({ dataDir, name: 'test' }));
    try {
      expect(second.port).toBe(first.port);
      expect(await query(second.url, 'select id from kept')).toEqual([{ id: 42 }]);
      expect(secondMs).toBeLessThan(firstMs);
    } finally {
      await second.stop();
    }
  }, 30_000);

  it('shares a running server and stops it when the last handle stops', async () => {
    const a = await startEmbeddedPostgres({ dataDir, name: 'test' });
    const b = await startEmbeddedPostgres({ dataDir, name: 'test' });
    try {
      expect(b.reused).toBe(true);
      expect(b.url).toBe(a.url);
      await a.stop();
      expect(await query(b.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    } finally {
      await a.stop();
      await b.stop();
    }
    await expect(query(b.url, 'select 1')).rejects.toThrow();
  }, 20_000);

  it('starts over a stale postmaster.pid left by a killed run', async () => {
    const dead = spawnSync('true').pid;
    const stale = [dead, join(dataDir, 'pgdata'), '0', '1', '', '127.0.0.1', '0 0', 'ready', ''];
    await writeFile(join(dataDir, 'pgdata', 'postmaster.pid'), stale.join('\n'));
    const pg17 = await startEmbeddedPostgres({ dataDir, name: 'test' });
    try {
      expect(pg17.reused).toBe(false);
      expect(await query(pg17.url, 'select count(*)::int as n from kept')).toEqual([{ n: 1 }]);
    } finally {
      await pg17.stop();
    }
  }, 20_000);

  it('returns DATABASE_URL untouched and starts nothing when it is set', async () => {
    const url = 'postgres://someone:secret@db.invalid:6543/app?sslmode=disable';
    vi.stubEnv('DATABASE_URL', url);
    const unused = join(projectRoot(), '.pgdata', `tmp-unused-${randomBytes(4).toString('hex')}`);
    const db = await ensureDatabase({ dataDir: unused });
    expect(db.url).toBe(url);
    expect(db.embedded).toBe(false);
    await db.stop();
    expect(existsSync(unused)).toBe(false);
  });
});
