/**
 * Per-file isolation: each test file works in its own database, cloned from
 * the migrated template in a few tens of milliseconds.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { inject } from 'vitest';
import { createDispatch, type Dispatch, type DispatchOptions } from '../../src/index.js';
import { withDatabase } from './urls.js';

export interface TestDatabase {
  url: string;
  name: string;
  pool: pg.Pool;
  /** A dispatch instance on this database (logs at warn unless LOG_LEVEL says otherwise). */
  dispatch(options?: Omit<DispatchOptions, 'connectionString'>): Dispatch;
  drop(): Promise<void>;
}

export const quietLogger = () => pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database; `migrated: false` gives an empty one. */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `pgd_t_${randomBytes(6).toString('hex')}`;
  const template = options.migrated === false ? 'template1' : inject('templateDatabase');
  await admin(async (c) => {
    for (let i = 0; ; i++) {
      try {
        await c.query(`create database "${name}" template "${template}"`);
        return;
      } catch (err) {
        // Another file cloning the template at the same instant.
        if (i >= 20 || !/being accessed by other users/.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    }
  });
  const url = withDatabase(inject('databaseUrl'), name);
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  // pool.end() resolves before its connections are closed, and drop() then
  // terminates them: an idle client's 57P01 must not become an uncaught
  // 'error' event (it did against a Postgres 15 server).
  pool.on('error', () => undefined);
  const instances: Dispatch[] = [];
  return {
    url,
    name,
    pool,
    dispatch(options = {}) {
      const d = createDispatch({ connectionString: url, logger: quietLogger(), ...options });
      instances.push(d);
      return d;
    },
    async drop() {
      await Promise.allSettled(instances.map((d) => d.close()));
      await pool.end();
      if (process.env['KEEP_TEST_DB']) return;
      await admin((c) => c.query(`drop database if exists "${name}" with (force)`));
    },
  };
}

/** Polls until `check` returns a truthy value, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  { timeoutMs = 20_000, intervalMs = 50, message = 'condition not met' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `promise`, or a failure saying `message` if it has not settled within `timeoutMs`. */
export function within<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${message} (${timeoutMs} ms)`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A day's partitions of the history tables made by hand (days since
 * 1970-01-01 UTC), as a maintainer that ran that day would have.
 */
export async function makeDay(pool: pg.Pool, day: number, schema = 'pgdispatch'): Promise<void> {
  for (const t of ['calls', 'attempts', 'call_events', 'steps']) {
    const { rows } = await pool.query(`select ${schema}.partition_name($1, $2) as n`, [t, day]);
    await pool.query(
      `create table ${schema}.${rows[0].n} partition of ${schema}.${t}
         for values from (${BigInt(day) << 33n}) to (${BigInt(day + 1) << 33n})`,
    );
  }
  await pool.query(`insert into ${schema}.partition_days (day) values ($1)`, [day]);
}

/**
 * The plans of every statement `run` executes on one connection, nested ones
 * (inside functions) included, as auto_explain logs them. The connection is
 * discarded afterwards, so its settings and plan cache go with it.
 */
export async function nestedPlans(
  pool: pg.Pool,
  run: (client: pg.PoolClient) => Promise<void>,
): Promise<string[]> {
  const client = await pool.connect();
  const plans: string[] = [];
  client.on('notice', (n) => plans.push(n.message ?? ''));
  try {
    await client.query("load 'auto_explain'");
    await client.query(`set auto_explain.log_min_duration = 0;
                        set auto_explain.log_nested_statements = on;
                        set client_min_messages = log`);
    await run(client);
    await client.query('set client_min_messages = notice');
  } finally {
    client.release(true);
  }
  return plans;
}
