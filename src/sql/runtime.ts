/**
 * What every part below the facade gets instead of the facade: the pool, the
 * schema, the logger and the schema's named statements, built once.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { fromPgError } from '../core/errors.js';
import { buildQueries, type NamedQuery, type Queries } from './queries.js';

export interface Runtime {
  readonly pool: pg.Pool;
  /** Validated schema name; it is part of every statement's name and text. */
  readonly schema: string;
  readonly logger: Logger;
  readonly queries: Queries;
  /** Whether workers LISTEN for new jobs: false in poll-only mode. */
  readonly listen: boolean;
}

export function createRuntime(
  pool: pg.Pool,
  schema: string,
  logger: Logger,
  options: { preparedStatements?: boolean; listen?: boolean } = {},
): Runtime {
  return {
    pool,
    schema,
    logger,
    queries: buildQueries(schema, options.preparedStatements ?? true),
    listen: options.listen ?? true,
  };
}

/** The key under which the facade hands its runtime to the operations functions. */
export const RUNTIME: unique symbol = Symbol('pgdispatch.runtime');

/** What the operations functions take: the application's dispatch instance. */
export interface HasRuntime {
  readonly [RUNTIME]: Runtime;
}

export function runtimeOf(source: HasRuntime): Runtime {
  return source[RUNTIME];
}

/** Runs a named statement on the pool; errors raised by our SQL become DispatchErrors. */
export async function run<R>(rt: Runtime, query: NamedQuery, values: unknown[]): Promise<R[]> {
  try {
    return (await rt.pool.query({ ...query, values })).rows as R[];
  } catch (err) {
    throw fromPgError(err);
  }
}

/** The first row of `run`. */
export async function runOne<R>(rt: Runtime, query: NamedQuery, values: unknown[]): Promise<R> {
  return (await run<R>(rt, query, values))[0]!;
}
