/**
 * Commit contention: `begin; insert an order; dispatch; commit` from 1, 8
 * and 32 concurrent clients: every dispatch notifying (the default), none
 * (`pollOnly`), and at most one notification per 100 ms from the instance
 * (`notifyIntervalMs: 100`). A notifying
 * transaction holds a database-wide lock from its pre-commit to the end of
 * its commit, WAL flush included, so notifying commits cannot share a flush.
 *
 *   npm run bench:contention -- [--txns 2000] [--clients 1,8,32] [--rounds 2]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { Databases } from './db.js';
import { pgd } from './lib.js';

const { values } = parseArgs({
  options: {
    txns: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '1,8,32' },
    rounds: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'notify,none,coalesced' },
  },
});
const TXNS = Number(values.txns);
const CLIENTS = values.clients.split(',').map(Number);
const ROUNDS = Number(values.rounds);
type Mode = 'notify' | 'none' | 'coalesced';
const MODES = values.modes.split(',') as Mode[];



async function measure(dbs: Databases, mode: Mode, clients: number, round: number) {
  const db = await dbs.fresh(`contention_${mode}_${clients}_${round}`);
  const pool = new pg.Pool({ connectionString: db.url, max: clients });
  pool.on('error', () => undefined);
  const dispatch = pgd.createDispatch({
    connectionString: db.url,
    logger: pino({ level: 'error' }),
    maxPoolSize: 2,
    ...(mode === 'coalesced' ? { notifyIntervalMs: 100 } : {}),
    ...(mode === 'none' ? { pollOnly: true } : {}),
  });
  const fn = dispatch.func('bench_noop', () => undefined);
  try {
    const run = async (total: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          const client = await pool.connect();
          try {
            while (next < total) {
              const seq = next++;
              await client.query('begin');
              await client.query({
                name: 'order',
                text: 'insert into public.bench_orders (customer, amount) values ($1, $2)',
                values: [`cus_${seq % 997}`, 4200],
              });
              await fn.dispatch({ seq }, { tx: client });
              await client.query('commit');
            }
          } finally {
            client.release();
          }
        }),
      );
    };
    await run(Math.min(200, TXNS));
    const t0 = performance.now();
    await run(TXNS);
    const ms = performance.now() - t0;
    return TXNS / (ms / 1000);
  } finally {
    await dispatch.close();
    await pool.end();
    await db.drop();
  }
}

async function main(): Promise<void> {
  const dbs = await Databases.open();
  const machine = await dbs.machine();
  console.log(
    `${machine.cores} cores, ${machine.cpuModel}; Postgres ${machine.postgres} (${machine.database}), ` +
      `fsync ${machine.postgresSettings['fsync']}, synchronous_commit ${machine.postgresSettings['synchronous_commit']}`,
  );
  const best = new Map<string, number>();
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? MODES : [...MODES].reverse();
      for (const clients of CLIENTS) {
        for (const mode of order) {
          const rate = await measure(dbs, mode, clients, round);
          const key = `${mode}/${clients}`;
          best.set(key, Math.max(best.get(key) ?? 0, rate));
          console.log(`round ${round}: ${mode}, ${clients} clients: ${Math.round(rate)} txn/s`);
        }
      }
    }
  } finally {
    await dbs.close();
  }
  console.log(`\ntransactional dispatch, ${TXNS} transactions, best of ${ROUNDS} rounds (txn/s)`);
  console.log(['clients', ...MODES, ...MODES.slice(1).map((m) => `${m}/notify`)].join('\t'));
  for (const clients of CLIENTS) {
    const base = best.get(`notify/${clients}`) ?? Number.NaN;
    const cells = MODES.map((m) => String(Math.round(best.get(`${m}/${clients}`) ?? Number.NaN)));
    const ratios = MODES.slice(1).map((m) => ((best.get(`${m}/${clients}`) ?? Number.NaN) / base).toFixed(2));
    console.log([String(clients), ...cells, ...ratios].join('\t'));
  }
}

await main();
