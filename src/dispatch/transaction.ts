/** Runs a statement inside the caller's transaction (pg client or Kysely), or on the pool. */
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { DispatchError, fromPgError } from '../core/errors.js';
import type { Runtime } from '../sql/runtime.js';
import type { NamedQuery } from '../sql/queries.js';

/** Anything that can run a query: a pg Pool, PoolClient or Client. */
export interface PgQueryable {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<pg.QueryResult>;
}

/** A pg client inside BEGIN, or a Kysely transaction (or Kysely instance). */
// biome-ignore lint/suspicious/noExplicitAny: Kysely<any> accepts every user database type.
export type Transaction = PgQueryable | Kysely<any>;

export async function runIn<R>(
  rt: Runtime,
  tx: Transaction | undefined,
  query: NamedQuery,
  values: unknown[],
): Promise<R[]> {
  if (tx !== undefined && (typeof tx !== 'object' || tx === null)) {
    throw new DispatchError('INVALID_OPTION', 'tx must be a pg client or a Kysely transaction');
  }
  try {
    if (tx === undefined) {
      return (await rt.pool.query({ ...query, values })).rows as R[];
    }
    if (isKysely(tx)) {
      // Imported here: the caller who passes a Kysely transaction has it loaded already.
      const { CompiledQuery } = await import('kysely');
      const result = await tx.executeQuery(CompiledQuery.raw(query.text, values));
      return result.rows as R[];
    }
    if (typeof tx.query !== 'function') {
      throw new DispatchError('INVALID_OPTION', 'tx must be a pg client or a Kysely transaction');
    }
    return (await tx.query({ ...query, values })).rows as R[];
  } catch (err) {
    throw fromPgError(err);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: see Transaction.
function isKysely(tx: Transaction): tx is Kysely<any> {
  return typeof (tx as { executeQuery?: unknown }).executeQuery === 'function';
}
