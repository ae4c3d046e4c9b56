/**
 * `npm run bench`: pgdispatch against the graphile-worker baseline, side by
 * side in one run on one machine. Prints the machine, a table with ratios
 * and the targets (ratios pgdispatch must reach); writes everything to bench/results/<time>.json
 * and the child processes' logs next to it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, parseConfig, USAGE } from './config.js';
import type { Ctx, System } from './context.js';
import { Databases } from './db.js';
import { hasWebhook } from './instance.js';
import { ROOT } from './lib.js';
import { runBatch } from './phases/batch.js';
import { runE2e } from './phases/e2e.js';
import { pgdispatchClient } from './phases/enqueue.js';
import { runHttpBound } from './phases/http.js';
import { runLatency } from './phases/latency.js';
import { runTxn, type Side } from './phases/txn.js';
import { forkChild } from './proc.js';
import { Progress } from './progress.js';
import { buildReport, type Measurements, renderReport } from './report.js';

const SIDES: Side[] = ['graphile-worker', 'pgdispatch'];

function countSteps(c: Config, systems: System[]): number {
  const on = (p: Config['phases'][number]) => c.phases.includes(p);
  return (
    1 +
    (on('e2e')
      ? c.processes.length *
        c.rounds *
        (systems.length +
          (c.concurrencies.length - 1) * systems.filter((s) => s !== 'gw-defaults').length)
      : 0) +
    (on('http') ? 1 : 0) +
    (on('latency') ? 2 : 0) +
    (on('txn') ? 2 * c.rounds : 0) +
    (on('batch') ? 2 * c.rounds : 0)
  );
}

/** Alternates the sides round by round so neither always runs first. */
function alternating(round: number): Side[] {
  return round % 2 === 1 ? SIDES : [...SIDES].reverse();
}

async function main(): Promise<number> {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    // A mistyped flag: say which, not where in the bench it was noticed.
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (config === 'help') {
    console.log(USAGE);
    return 0;
  }
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(ROOT, 'bench', 'results');
  const logDir = join(resultsDir, `${stamp}-logs`);
  mkdirSync(logDir, { recursive: true });

  // The built-in webhook gets its own end-to-end row when this build has it.
  const probe = pgdispatchClient('postgres://127.0.0.1/unused');
  let systems: System[] = ['gw-defaults', 'gw-local', 'pgdispatch'];
  if (hasWebhook(probe.dispatch)) systems.push('pgdispatch-webhook');
  if (config.systems) {
    const unknown = config.systems.filter((s) => !(systems as string[]).includes(s));
    if (unknown.length > 0) {
      console.error(`unknown system ${unknown.join(', ')}\n\n${USAGE}`);
      await probe.dispatch.close();
      return 2;
    }
    systems = systems.filter((s) => config.systems?.includes(s));
  }
  await probe.dispatch.close();

  const progress = new Progress(countSteps(config, systems));
  progress.start('database: start and migrate the template');
  const dbs = await Databases.open();
  const machine = await dbs.machine();
  progress.finish(`Postgres ${machine.postgres} (${machine.database})`);

  const receiver = forkChild({
    name: 'receiver',
    script: fileURLToPath(new URL('./receiver.js', import.meta.url)),
    logDir,
  });
  const m: Measurements = { e2e: [], latency: [], txn: [], batch: [] };
  const failures: string[] = [];
  try {
    const { port } = await receiver.waitFor('ready', 30_000);
    const ctx: Ctx = {
      config,
      dbs,
      progress,
      logDir,
      receiver,
      receiverUrl: `http://127.0.0.1:${port}/hook`,
    };
    const on = (p: Config['phases'][number]) => config.phases.includes(p);
    // A failed measurement is reported and skipped; the others still count.
    const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        progress.info(`FAILED ${what}: ${message}`);
        failures.push(`${what}: ${message}`);
        return undefined;
      }
    };
    const push = <T>(list: T[], item: T | undefined) => item !== undefined && list.push(item);
    if (on('e2e')) {
      // Like txn and batch: rounds, the systems' order reversed every other
      // round, and the best round of each system counts.
      // The defaults run at the first concurrency only: they are the
      // slowest runs, and the further concurrencies are for the local queue.
      for (const [i, concurrency] of config.concurrencies.entries()) {
        const these = i === 0 ? systems : systems.filter((s) => s !== 'gw-defaults');
        for (const processes of config.processes) {
          for (let round = 1; round <= config.rounds; round++) {
            for (const system of round % 2 === 1 ? these : [...these].reverse()) {
              push(
                m.e2e,
                await attempt(`e2e ${system} ×${processes} c${concurrency} round ${round}`, () =>
                  runE2e(ctx, system, processes, round, concurrency),
                ),
              );
            }
          }
        }
      }
    }
    if (on('http')) m.http = await attempt('HTTP bound', () => runHttpBound(ctx));
    if (on('latency')) {
      for (const system of ['gw-defaults', 'pgdispatch'] as const) {
        push(m.latency, await attempt(`latency ${system}`, () => runLatency(ctx, system)));
      }
    }
    for (let round = 1; on('txn') && round <= config.rounds; round++) {
      for (const side of alternating(round)) {
        push(m.txn, await attempt(`txn ${side}`, () => runTxn(ctx, side, round)));
      }
    }
    for (let round = 1; on('batch') && round <= config.rounds; round++) {
      for (const side of alternating(round)) {
        push(m.batch, await attempt(`batch ${side}`, () => runBatch(ctx, side, round)));
      }
    }
  } finally {
    await receiver.stop();
    await dbs.close();
  }

  const report = buildReport(m);
  const durationS = progress.elapsedSeconds();
  const file = join(resultsDir, `${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ startedAt, durationS, machine, config, ...report, failures, measurements: m }, null, 2)}\n`,
  );
  console.log(`\n${renderReport(report, machine, config, m)}`);
  console.log(`\nWhole run ${Math.round(durationS)} s. Results: ${file}\nLogs: ${logDir}`);
  for (const f of failures) console.log(`FAILED ${f}`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
