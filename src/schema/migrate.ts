import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { DispatchError, fromPgError } from '../core/errors.js';
import { quoteIdent, quoteLiteral } from '../core/ident.js';
import { LEGACY_CHECKSUMS } from './legacy-checksums.js';

/** Where the numbered .sql files live, both from src/ (tests) and dist/ (installed). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Where the SQL functions live, one file each holding its current body. */
export const FUNCTIONS_DIR = fileURLToPath(new URL('../../functions/', import.meta.url));

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

export interface FunctionFile {
  /** File name without `.sql`: the function's name. */
  name: string;
  sql: string;
}

export async function loadFunctions(dir = FUNCTIONS_DIR): Promise<FunctionFile[]> {
  const files = (await readdir(dir)).filter((f) => /^[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
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
 * graphile-worker warns on the console about a pool with no `error` or
 * `connect` listener (an application's own, passed as `pool`), then adds
 * its own. Ours instead, for the time of its migrations: a lost idle
 * connection is logged, not thrown. Returns what removes them.
 */
function watchPoolErrors(pool: Pool, logger: Logger): () => void {
  const onError = (err: Error) => logger.warn({ err }, 'idle database connection lost');
  const onClientError = (err: Error) => logger.warn({ err }, 'database connection lost');
  const clients = new Set<PoolClient>();
  const onConnect = (client: PoolClient) => {
    clients.add(client);
    client.on('error', onClientError);
  };
  const watchErrors = pool.listenerCount('error') === 0;
  const watchConnects = pool.listenerCount('connect') === 0;
  if (watchErrors) pool.on('error', onError);
  if (watchConnects) pool.on('connect', onConnect);
  return () => {
    if (watchErrors) pool.off('error', onError);
    if (watchConnects) pool.off('connect', onConnect);
    for (const c of clients) c.off('error', onClientError);
  };
}

/**
 * Installs graphile-worker's schema, applies our pending migrations (DDL and
 * data), each in its own transaction, then the function files whose checksum
 * changed, in one transaction. A session advisory lock keyed on the schema
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
      const release = watchPoolErrors(pool, logger);
      try {
        await runMigrations({ pgPool: pool, logger: toGraphileLogger(logger) });
      } finally {
        release();
      }
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
      await client.query(
        `create table if not exists ${s}.function_files (
           name text primary key,
           checksum text not null,
           applied_at timestamptz not null default now()
         )`,
      );
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
          if (recorded && recorded === LEGACY_CHECKSUMS.get(m.version)) {
            await client.query(`update ${s}.migrations set checksum = $2 where version = $1`, [
              m.version,
              checksum(m.sql),
            ]);
            continue;
          }
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
      await applyFunctions(client, schema, logger);
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

/** Creates or replaces the functions whose file changed since it was last applied. */
async function applyFunctions(client: PoolClient, schema: string, logger: Logger): Promise<void> {
  const s = quoteIdent(schema);
  const recorded = new Map(
    (
      await client.query<{ name: string; checksum: string }>(
        `select name, checksum from ${s}.function_files`,
      )
    ).rows.map((r) => [r.name, r.checksum]),
  );
  const changed = (await loadFunctions()).filter((f) => recorded.get(f.name) !== checksum(f.sql));
  if (changed.length === 0) return;
  try {
    await client.query('begin');
    // A function may name one defined in a later file: bodies are checked when called.
    await client.query('set local check_function_bodies = off');
    for (const f of changed) {
      await client.query(renderMigration(f.sql, schema));
      await client.query(
        `insert into ${s}.function_files (name, checksum) values ($1, $2)
         on conflict (name) do update set checksum = excluded.checksum, applied_at = now()`,
        [f.name, checksum(f.sql)],
      );
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw new DispatchError(
      'MIGRATION_FAILED',
      `SQL functions failed to apply: ${(err as Error).message}`,
      { cause: err },
    );
  }
  logger.info({ functions: changed.map((f) => f.name), schema }, 'applied SQL functions');
}
