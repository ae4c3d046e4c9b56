/**
 * Before any test file: find a Postgres (DATABASE_URL, or an embedded one),
 * and build a migrated template database that each test file clones.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import pg from 'pg';
import { pino } from 'pino';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/schema/migrate.js';
import { ensureDatabase } from '../../src/dev/embedded.js';
import { withDatabase } from './urls.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    templateDatabase: string;
  }
}

/** Changes with any migration, SQL function file or the package version. */
async function migrationsHash(): Promise<string> {
  const hash = createHash('sha256');
  for (const folder of ['../../migrations/', '../../functions/']) {
    const dir = new URL(folder, import.meta.url);
    for (const file of (await readdir(dir)).sort()) {
      hash.update(folder + file);
      hash.update(await readFile(new URL(file, dir)));
    }
  }
  hash.update(JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')).version);
  return hash.digest('hex').slice(0, 12);
}

export default async function setup(project: TestProject) {
  const db = await ensureDatabase({ name: 'test' });
  const template = `pgd_template_${await migrationsHash()}`;
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    // Two suites starting at once must not both build the template.
    await admin.query('select pg_advisory_lock(hashtext($1))', [template]);
    const exists = await admin.query('select 1 from pg_database where datname = $1', [template]);
    if (exists.rowCount === 0) {
      await admin.query(`create database "${template}_tmp"`).catch(async () => {
        await admin.query(`drop database "${template}_tmp" with (force)`);
        await admin.query(`create database "${template}_tmp"`);
      });
      const pool = new pg.Pool({ connectionString: withDatabase(db.url, `${template}_tmp`), max: 2 });
      pool.on('error', () => undefined);
      pool.on('connect', (client) => client.on('error', () => undefined));
      try {
        await migrate(pool, 'pgdispatch', pino({ level: 'warn' }));
      } finally {
        await pool.end();
      }
      await admin.query(`alter database "${template}_tmp" rename to "${template}"`);
    }
    await admin.query('select pg_advisory_unlock(hashtext($1))', [template]);
  } finally {
    await admin.end();
  }
  project.provide('databaseUrl', db.url);
  project.provide('templateDatabase', template);
  return async () => {
    await db.stop();
  };
}
