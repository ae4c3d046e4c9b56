/**
 * The pool graphile-worker gets: the instance's pool, except that checking
 * out a client waits out a database outage, and a single statement cut off
 * by one is run again on a fresh connection.
 *
 * Why: in graphile-worker 0.17.3 the retry loop of batched job completion
 * rethrows on its first error, so one statement lost to a Postgres restart
 * shuts the worker pool down, and returning its local queue then fails with
 * an unhandled rejection that kills the process. Its statements outside a
 * transaction (fetch, complete, fail, return jobs) are safe to repeat: our
 * recorder has already deleted a finished job, and the others match on
 * `locked_by`.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { isConnectionError, retryWhileUnreachable } from '../errors.js';

export interface ResilientPoolOptions {
  /** How long to keep trying through an outage, in ms. (Default: 60000) */
  retryForMs?: number;
  logger: Logger;
}

export function resilientPool(pool: pg.Pool, options: ResilientPoolOptions): pg.Pool {
  const retryForMs = options.retryForMs ?? 60_000;
  const log = options.logger;

  const checkout = (deadline: number): Promise<pg.PoolClient> =>
    retryWhileUnreachable(
      () => pool.connect(),
      deadline,
      (err, retryInMs) =>
        log.debug({ err: err.message, retryInMs }, 'worker pool: database unreachable; waiting'),
    );

  function wrapClient(first: pg.PoolClient): pg.PoolClient {
    let client = first;
    let inTransaction = false;
    const query = async (...args: unknown[]): Promise<unknown> => {
      const text =
        typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | null)?.text;
      const call = (c: pg.PoolClient) =>
        (c.query as (...a: unknown[]) => Promise<unknown>).apply(c, args);
      if (/^\s*(begin|start\s+transaction)\b/i.test(text ?? '')) inTransaction = true;
      if (/^\s*(commit|rollback|end)\b/i.test(text ?? '')) inTransaction = false;
      const deadline = Date.now() + retryForMs;
      for (;;) {
        try {
          return await call(client);
        } catch (err) {
          if (inTransaction || !isConnectionError(err) || Date.now() > deadline) throw err;
          log.warn(
            { err: (err as Error).message },
            'worker pool: statement cut off by the database; running it again',
          );
          client.release(err as Error);
          client = await checkout(deadline);
        }
      }
    };
    return new Proxy(first, {
      get(_target, prop) {
        if (prop === 'query') return query;
        const value = Reflect.get(client, prop, client) as unknown;
        return typeof value === 'function'
          ? (value as (...a: unknown[]) => unknown).bind(client)
          : value;
      },
    });
  }

  const connect = (...args: unknown[]): unknown => {
    // Callback style is graphile-worker's LISTEN connection, which has its own reconnect loop.
    if (typeof args[0] === 'function')
      return (pool.connect as (...a: unknown[]) => unknown)(...args);
    return checkout(Date.now() + retryForMs).then(wrapClient);
  };

  return new Proxy(pool, {
    get(target, prop) {
      if (prop === 'connect') return connect;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}
