/** What every phase gets, and how each side's worker processes start. */
import { fileURLToPath } from 'node:url';
import type { Config } from './config.js';
import type { Databases } from './db.js';
import type { ReceiverStats } from './ipc.js';
import { CLI } from './lib.js';
import { type Child, forkChild } from './proc.js';
import type { Progress } from './progress.js';

export interface Ctx {
  config: Config;
  dbs: Databases;
  progress: Progress;
  logDir: string;
  receiver: Child;
  receiverUrl: string;
}

/** pgdispatch's worker, or graphile-worker with its defaults or with its local queue and batching. */
export type System = 'pgdispatch' | 'pgdispatch-webhook' | 'gw-defaults' | 'gw-local';

export const SYSTEM_LABEL: Record<System, string> = {
  pgdispatch: 'pgdispatch',
  'pgdispatch-webhook': 'pgdispatch built-in webhook (signed)',
  'gw-defaults': 'graphile-worker defaults',
  'gw-local': 'graphile-worker local queue',
};

const script = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));

/** Starts `count` worker processes of a side against one database, each running `concurrency` attempts at once. */
export function startWorkers(
  ctx: Ctx,
  system: System,
  count: number,
  dbUrl: string,
  tag: string,
  concurrency = String(ctx.config.concurrency),
) {
  return Array.from({ length: count }, (_, i) => {
    const name = `${tag}-${system}-${i + 1}`;
    const env = { DATABASE_URL: dbUrl, BENCH_CONCURRENCY: concurrency };
    if (system === 'pgdispatch' || system === 'pgdispatch-webhook') {
      // The real CLI, as users run it.
      return forkChild({
        name,
        script: CLI,
        args: ['worker', '--module', script('worker-module.js'), '--concurrency', concurrency],
        env,
        logDir: ctx.logDir,
      });
    }
    return forkChild({
      name,
      script: script('gw-worker.js'),
      env: {
        ...env,
        GW_MODE: system === 'gw-local' ? 'local' : 'defaults',
        GW_CONCURRENCY: concurrency,
        GW_BATCH_DELAY: String(ctx.config.gwBatchDelay),
      },
      logDir: ctx.logDir,
    });
  });
}

export async function stopAll(children: Child[]): Promise<void> {
  await Promise.all(children.map((c) => c.stop()));
}

let statsRequests = 0;

export async function receiverStats(ctx: Ctx, reset = false): Promise<ReceiverStats> {
  const id = ++statsRequests;
  ctx.receiver.send({ type: reset ? 'reset' : 'stats', id });
  const { count, first, last } = await ctx.receiver.waitFor('stats', 10_000, (m) => m.id === id);
  return { count, first, last };
}
