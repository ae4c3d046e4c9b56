/**
 * The dashboard's only way to the database: a pool, and two kinds of
 * transaction. Reads run in READ ONLY transactions, so Postgres itself
 * refuses a write from a page; every transaction has a statement timeout.
 */
import type pg from 'pg';
import type { Statement } from './queries.js';

export interface DashboardDb {
  /** Runs `fn` in a READ ONLY transaction with the statement timeout set. */
  read<T>(fn: (run: Runner) => Promise<T>): Promise<T>;
  /** Runs `fn` in a read-write transaction with the statement timeout set. */
  write<T>(fn: (run: Runner) => Promise<T>): Promise<T>;
}

export type Runner = <R = Record<string, unknown>>(st: Statement) => Promise<R[]>;

export function dashboardDb(pool: pg.Pool, statementTimeoutMs: number): DashboardDb {
  async function tx<T>(mode: 'read only' | 'read write', fn: (run: Runner) => Promise<T>) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query(`begin ${mode}`);
      // set_config with is_local: the timeout ends with the transaction.
      await client.query("select set_config('statement_timeout', $1, true)", [
        `${statementTimeoutMs}ms`,
      ]);
      // One client runs one statement at a time: pages may ask for several
      // at once, so they queue here rather than inside pg.
      let queue: Promise<unknown> = Promise.resolve();
      const run: Runner = <R>(st: Statement) => {
        const next = queue.then(
          async () => (await client.query({ text: st.text, values: st.values })).rows as R[],
        );
        queue = next.catch(() => undefined);
        return next;
      };
      const result = await fn(run);
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }
  return {
    read: (fn) => tx('read only', fn),
    write: (fn) => tx('read write', fn),
  };
}
