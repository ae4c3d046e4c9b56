/**
 * Enqueueing calls in batches on each side: pgdispatch's dispatchMany
 * (calls + jobs in one statement) and graphile-worker's addJobs.
 */
import { makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import pino from 'pino';
import { POST_FN } from '../functions.js';
import { benchInstance } from '../instance.js';
import { eventBody, type PostInput } from '../post.js';

export interface Enqueuer {
  /** Enqueues the calls `from`..`from + count - 1`. */
  enqueue(from: number, count: number): Promise<void>;
  close(): Promise<void>;
}

export function inputs(url: string, from: number, count: number): PostInput[] {
  return Array.from({ length: count }, (_, i) => ({ url, body: eventBody(from + i) }));
}

export function pgdispatchClient(dbUrl: string) {
  return benchInstance({
    connectionString: dbUrl,
    concurrency: 50,
    // Errors only: dropping the phase's database ends its connections by force.
    logger: pino({ level: 'error' }),
    maxPoolSize: 8,
  });
}

/** `bench_post` calls, or with `webhook` calls of the built-in webhook function. */
export async function pgdispatchEnqueuer(
  dbUrl: string,
  url: string,
  webhook = false,
): Promise<Enqueuer> {
  const { dispatch, fns } = pgdispatchClient(dbUrl);
  return {
    enqueue: async (from, count) => {
      if (webhook) await dispatch.webhook.dispatchMany(inputs(url, from, count));
      else await fns.postFn.dispatchMany(inputs(url, from, count));
    },
    close: () => dispatch.close(),
  };
}

export async function graphileEnqueuer(dbUrl: string, url: string): Promise<Enqueuer> {
  // Our own pool, so the phase's forced database drop cannot crash us through it.
  const pgPool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  pgPool.on('error', () => undefined);
  const utils: WorkerUtils = await makeWorkerUtils({ pgPool });
  return {
    enqueue: async (from, count) => {
      await utils.addJobs(
        inputs(url, from, count).map((payload) => ({ identifier: POST_FN, payload })),
      );
    },
    close: async () => {
      await utils.release();
      await pgPool.end();
    },
  };
}
