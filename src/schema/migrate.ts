import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { DispatchError, fromPgError } from '../core/errors.js';
import { quoteIdent, quoteLiteral } from '../core/ident.js';

/** Where the numbered .sql files live, both from src/ (tests) and dist/ (installed). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number.parseInt(file.slice(0, 4), 10),
      name: file.replace(/\.sql$/, ''),
      sql: await readFile(join(dir, file), 'utf8'),
    })),
  );
}

function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

/** Replaces the psql-style `:"schema"` and `:'schema'` placeholders. */
export function renderMigration(sql: string, schema: string): string {
  return sql
    .replaceAll(':"schema"', quoteIdent(schema))
    .replaceAll(":'schema'", quoteLiteral(schema));
}

export interface MigrateResult {
  /** Names of the migrations this run applied (empty when already up to date). */
  applied: string[];
}

/**
 * Installs graphile-worker's schema, then applies our pending migrations,
 * each in its own transaction. A session advisory lock keyed on the schema
 * serialises concurrent migrators: the second waits, then finds nothing to do.
 */
export async function migrate(pool: Pool, schema: string, logger: Logger): Promise<MigrateResult> {
  const client = await pool.connect().catch((err: unknown) => {
    throw fromPgError(err);
  });
  const lockKey = `pgdispatch:migrate:${schema}`;
  try {
    await client.query('select pg_advisory_lock(hashtext($1))', [lockKey]);
    try {
      // Loaded here so commands that never migrate don't pay for graphile-worker's import.
      const { runMigrations } = await import('graphile-worker');
      const { toGraphileLogger } = await import('./graphile-logger.js');
      await runMigrations({ pgPool: pool, logger: toGraphileLogger(logger) });
      const s = quoteIdent(schema);
      await client.query(`create schema if not exists ${s}`);
      await client.query(
        `create table if not exists ${s}.migrations (
           version integer primary key,
           name text not null,
           checksum text,
           applied_at timestamptz not null default now()
         )`,
      );
      await client.query(`alter table ${s}.migrations add column if not exists checksum text`);
      const done = new Map(
        (
          await client.query<{ version: number; checksum: string | null }>(
            `select version, checksum from ${s}.migrations`,
          )
        ).rows.map((r) => [r.version, r.checksum]),
      );
      const applied: string[] = [];
      for (const m of await loadMigrations()) {
        if (done.has(m.version)) {
          const recorded = done.get(m.version);
          // An applied migration is never applied again; an edited one is a
          // mistake worth saying out loud (ship a new numbered file instead).
          if (recorded && recorded !== checksum(m.sql)) {
            logger.warn(
              { migration: m.name, schema },
              `migration ${m.name} has changed since it was applied; changes belong in a new migration`,
            );
          }
          continue;
        }
        try {
          await client.query('begin');
          await client.query(renderMigration(m.sql, schema));
          await client.query(
            `insert into ${s}.migrations (version, name, checksum) values ($1, $2, $3)`,
            [m.version, m.name, checksum(m.sql)],
          );
          await client.query('commit');
        } catch (err) {
          await client.query('rollback').catch(() => undefined);
          throw new DispatchError(
            'MIGRATION_FAILED',
            `migration ${m.name} failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
        applied.push(m.name);
        logger.info({ migration: m.name, schema }, 'applied migration');
      }
      return { applied };
    } finally {
      await client
        .query('select pg_advisory_unlock(hashtext($1))', [lockKey])
        .catch(() => undefined);
    }
  } catch (err) {
    throw fromPgError(err);
  } finally {
    client.release();
  }
}
