/**
 * Databases: one server (DATABASE_URL, or the embedded Postgres of src/dev),
 * a template database migrated once (graphile-worker's schema, pgdispatch's,
 * an application table), and a fresh copy of it for every measurement so no
 * phase inherits another's dead tuples, sequences or caches.
 */
import { cpus, totalmem } from 'node:os';
import pg from 'pg';
import pino from 'pino';
import { loadEmbedded, pgd } from './lib.js';

const PREFIX = 'pgd_bench_';
const TEMPLATE = `${PREFIX}template`;

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  database: 'embedded' | 'DATABASE_URL';
}

/**
 * No autovacuum on the tables a run fills and drains: the jobs table and each
 * partition of calls and attempts (a partitioned table has no storage
 * parameters of its own). Run again after making partitions.
 */
export async function noAutovacuum(pool: pg.Pool): Promise<void> {
  await pool.query(`alter table graphile_worker._private_jobs set (autovacuum_enabled = false)`);
  await pool.query(`do $$
    declare r record;
    begin
      for r in select i.inhrelid::regclass as part from pg_inherits i
                where i.inhparent in ('pgdispatch.calls'::regclass, 'pgdispatch.attempts'::regclass)
      loop
        execute format('alter table %s set (autovacuum_enabled = false)', r.part);
      end loop;
    end $$`);
}

export interface PhaseDb {
  url: string;
  drop(): Promise<void>;
}

export class Databases {
  #admin: pg.Pool;
  #serial = 0;

  private constructor(
    readonly serverUrl: string,
    readonly embedded: boolean,
    readonly stopServer: () => Promise<void>,
  ) {
    this.#admin = new pg.Pool({ connectionString: serverUrl, max: 2 });
  }

  /** Connects (starting the embedded server when DATABASE_URL is unset) and builds the template. */
  static async open(): Promise<Databases> {
    const { ensureDatabase } = await loadEmbedded();
    const handle = await ensureDatabase({ name: 'bench' });
    const dbs = new Databases(handle.url, handle.embedded, handle.stop);
    await dbs.#dropLeftovers();
    await dbs.#admin.query(`create database ${TEMPLATE}`);
    const dispatch = pgd.createDispatch({
      connectionString: dbs.urlOf(TEMPLATE),
      logger: pino({ level: 'warn' }),
    });
    try {
      await dispatch.migrate();
      await dispatch.pool.query(
        `create table public.bench_orders (
           id bigint generated always as identity primary key,
           customer text not null,
           amount integer not null,
           created_at timestamptz not null default now())`,
      );
      // No autovacuum on the tables a run fills and drains: an analyze or a
      // vacuum at a random moment of a few-second run changed plans and
      // CPU mid-measurement. The end-to-end phase analyzes explicitly (--stats).
      // The daily partitions a worker makes ahead, made here once: no
      // measurement sees them created.
      await dispatch.pool.query('select pgdispatch.partitions_create(7)');
      await noAutovacuum(dispatch.pool);
    } finally {
      await dispatch.close();
    }
    return dbs;
  }

  urlOf(database: string): string {
    const url = new URL(this.serverUrl);
    url.pathname = `/${database}`;
    return url.toString();
  }

  /** A fresh database, copied from the migrated template. */
  async fresh(label: string): Promise<PhaseDb> {
    const name = `${PREFIX}${++this.#serial}_${label.replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
    await this.#admin.query(`create database ${name} template ${TEMPLATE}`);
    return {
      url: this.urlOf(name),
      drop: async () => {
        await this.#admin.query(`drop database if exists ${name} with (force)`);
      },
    };
  }

  async machine(): Promise<MachineInfo> {
    const { rows } = await this.#admin.query<{ version: string }>(
      `select current_setting('server_version') as version`,
    );
    const settings = await this.#admin.query<{
      name: string;
      setting: string;
      unit: string | null;
    }>(
      `select name, setting, unit from pg_settings
        where name in ('shared_buffers', 'fsync', 'synchronous_commit', 'max_connections',
                       'wal_level', 'shared_preload_libraries')`,
    );
    const cpu = cpus();
    return {
      cores: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      postgres: rows[0]?.version ?? 'unknown',
      postgresSettings: Object.fromEntries(
        settings.rows.map((r) => [r.name, r.unit ? `${r.setting} (${r.unit})` : r.setting]),
      ),
      database: this.embedded ? 'embedded' : 'DATABASE_URL',
    };
  }

  async close(): Promise<void> {
    await this.#dropLeftovers().catch(() => undefined);
    await this.#admin.end();
    await this.stopServer();
  }

  /** Databases a killed run left behind. */
  async #dropLeftovers(): Promise<void> {
    const { rows } = await this.#admin.query<{ datname: string }>(
      `select datname from pg_database where datname like '${PREFIX}%'`,
    );
    for (const { datname } of rows) {
      await this.#admin.query(`drop database if exists ${datname} with (force)`);
    }
  }
}
