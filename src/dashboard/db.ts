/**
 * The dashboard's only way to the database: a pool, and two kinds of
 * transaction. Reads run in READ ONLY transactions, so Postgres itself
 * refuses a write from a page; every transaction has a statement timeout.
 */
import type pg from 'pg';
import type { Statement } from '../observe/dashboard-statements.js';

export interface DashboardDb {
  /** Runs `fn` in a READ ONLY transaction with the statement timeout set. */
  read<T>(fn: (run: Runner) => Promise<T>): Promise<T>;
  /** Runs `fn` in a read-write transaction with the statement timeout set. */
  write<T>(fn: (run: Runner) => Promise<T>): Promise<T>;
}

export interface Runner {
  <R = Record<string, unknown>>(st: Statement): Promise<R[]>;
  /**
   * Runs a statement with a shorter timeout of its own; undefined when it
   * hits it (a count that would take too long), the transaction intact.
   */
  soft<R = Record<string, unknown>>(st: Statement, timeoutMs: number): Promise<R[] | undefined>;
}

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
      const serial = <T>(fn: () => Promise<T>): Promise<T> => {
        const next = queue.then(fn);
        queue = next.catch(() => undefined);
        return next;
      };
      const timeout = (ms: number) =>
        client.query("select set_config('statement_timeout', $1, true)", [`${ms}ms`]);
      const run = (<R>(st: Statement) =>
        serial(async () => (await client.query({ text: st.text, values: st.values })).rows as R[])) as Runner;
      run.soft = <R>(st: Statement, ms: number) =>
        serial(async () => {
          await client.query('savepoint pgd_soft');
          await timeout(Math.min(ms, statementTimeoutMs));
          try {
            const { rows } = await client.query({ text: st.text, values: st.values });
            await client.query('release savepoint pgd_soft');
            await timeout(statementTimeoutMs);
            return rows as R[];
          } catch (err) {
            if ((err as { code?: string }).code !== '57014') throw err;
            // Undoes the shorter timeout too.
            await client.query('rollback to savepoint pgd_soft');
            return undefined;
          }
        });
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
