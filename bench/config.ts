/** Sizes and switches, from flags (`npm run bench -- --calls 2000`) or BENCH_* variables. */
import { parseArgs } from 'node:util';

export const PHASES = ['e2e', 'http', 'latency', 'txn', 'batch'] as const;
export type Phase = (typeof PHASES)[number];

export interface Config {
  /** End-to-end calls per run. */
  calls: number;
  /** Attempts run at once per worker process, on both sides (the first of `concurrencies`). */
  concurrency: number;
  /**
   * End-to-end concurrencies: every system runs at the first; the further
   * ones run the local queue and pgdispatch (no graphile-worker defaults).
   */
  concurrencies: number[];
  /** Worker process counts of the end-to-end runs. */
  processes: number[];
  /** Sequential calls of the latency phase. */
  latencySamples: number;
  /** Transactions of the transactional dispatch phase, and its concurrent clients. */
  txns: number;
  txnClients: number;
  /** Calls of the batch dispatch phase, and the batch size (also used to enqueue end-to-end). */
  batchCalls: number;
  batchSize: number;
  /** Rounds of the e2e, txn and batch phases, alternating the order; the best round counts. */
  rounds: number;
  /** completeJobBatchDelay/failJobBatchDelay of the baseline's local-queue mode. */
  gwBatchDelay: number;
  /**
   * End-to-end: `fresh` analyzes the database once the calls are enqueued,
   * so both sides plan with statistics that describe the backlog; `stale`
   * leaves them unanalyzed, so the planner works without statistics.
   */
  stats: 'fresh' | 'stale';
  phases: Phase[];
  /** End-to-end systems to run (all by default). */
  systems: string[] | undefined;
}

const FLAGS = {
  calls: { type: 'string', default: '10000' },
  concurrency: { type: 'string', default: '50,24' },
  processes: { type: 'string', default: '1,2' },
  'latency-samples': { type: 'string', default: '500' },
  txns: { type: 'string', default: '3000' },
  'txn-clients': { type: 'string', default: '4' },
  'batch-calls': { type: 'string', default: '20000' },
  'batch-size': { type: 'string', default: '1000' },
  rounds: { type: 'string', default: '2' },
  'gw-batch-delay': { type: 'string', default: '0' },
  stats: { type: 'string', default: 'fresh' },
  phases: { type: 'string', default: PHASES.join(',') },
  systems: { type: 'string', default: '' },
  help: { type: 'boolean', default: false },
} as const;

export const USAGE = `Usage: npm run bench -- [options]   (each flag also reads BENCH_<NAME>, e.g. BENCH_CALLS)

  --calls N            end-to-end calls per run (default 10000)
  --concurrency LIST   attempts at once per worker process, both sides; end-to-end runs
                       at each, the graphile-worker defaults only at the first, every
                       other phase at the first (default 50,24)
  --processes LIST     worker process counts of the end-to-end runs (default 1,2)
  --latency-samples N  sequential calls of the latency phase (default 500)
  --txns N             transactions of the transactional phase (default 3000)
  --txn-clients N      concurrent clients of the transactional phase (default 4)
  --batch-calls N      calls of the batch dispatch phase (default 20000)
  --batch-size N       calls per batch, also used to enqueue end-to-end (default 1000)
  --rounds N           rounds of the e2e, txn and batch phases; best counts (default 2)
  --gw-batch-delay MS  baseline local-queue completeJobBatchDelay/failJobBatchDelay (default 0)
  --stats fresh|stale  end-to-end: analyze once the calls are enqueued, or plan without
                       statistics (default fresh)
  --phases LIST        subset of ${PHASES.join(',')} (default all)
  --systems LIST       end-to-end subset of gw-defaults,gw-local,pgdispatch,pgdispatch-webhook
                       (default all)

Database: DATABASE_URL (its role needs CREATEDB), else an embedded Postgres in .pgdata/bench.`;

function envName(flag: string): string {
  return `BENCH_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export function parseConfig(argv: string[]): Config | 'help' {
  const { values } = parseArgs({ args: argv, options: FLAGS, strict: true });
  if (values.help) return 'help';
  const get = (flag: keyof typeof FLAGS): string => {
    const fromEnv = process.env[envName(flag)];
    const fromFlag = values[flag];
    // A flag given on the command line wins; otherwise the environment, then the default.
    if (typeof fromFlag === 'string' && argv.some((a) => a.startsWith(`--${flag}`))) {
      return fromFlag;
    }
    return fromEnv ?? String(fromFlag);
  };
  const int = (flag: keyof typeof FLAGS, min: number): number => {
    const n = Number(get(flag));
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} must be an integer >= ${min}`);
    return n;
  };
  const list = get('phases')
    .split(',')
    .map((p) => p.trim());
  for (const p of list) {
    if (!(PHASES as readonly string[]).includes(p)) throw new Error(`unknown phase ${p}`);
  }
  const processes = get('processes')
    .split(',')
    .map((p) => Number(p));
  if (processes.some((p) => !Number.isInteger(p) || p < 1)) {
    throw new Error('--processes takes a list of positive integers, e.g. 1,2');
  }
  const concurrencies = get('concurrency')
    .split(',')
    .map((c) => Number(c));
  if (concurrencies.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error('--concurrency takes a list of positive integers, e.g. 50,24');
  }
  const stats = get('stats');
  if (stats !== 'fresh' && stats !== 'stale') throw new Error('--stats takes fresh or stale');
  return {
    calls: int('calls', 1),
    concurrency: concurrencies[0]!,
    concurrencies,
    processes,
    latencySamples: int('latency-samples', 1),
    txns: int('txns', 1),
    txnClients: int('txn-clients', 1),
    batchCalls: int('batch-calls', 1),
    batchSize: int('batch-size', 1),
    rounds: int('rounds', 1),
    gwBatchDelay: int('gw-batch-delay', -1),
    stats,
    phases: list as Phase[],
    systems: get('systems') === '' ? undefined : get('systems').split(','),
  };
}
