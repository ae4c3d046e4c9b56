/**
 * `npm run bench:workflow`: pgdispatch workflows against DBOS Transact, side
 * by side in one run, each with its own fresh database on the same Postgres
 * server. Measures 10-step workflows (no-op steps, then one local HTTP POST
 * per step): workflows/s, steps/s, Postgres and Node CPU per step;
 * commit-to-first-step latency; child-to-parent wake latency for a parent
 * gathering 100 children, and that gather's whole time (the parent's start
 * to its step after the gather: the children dispatched, run, recorded).
 * Prints a table with ratios and writes bench/results/workflow-<time>.json.
 *
 * Flags: --workflows N (2000), --concurrency N (50), --rounds N (1),
 * --days-back N (0: the past days whose partitions exist, as retention keeps them).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { CpuMeter } from './cpu.js';
import { Databases } from './db.js';
import { now, pgd, ROOT } from './lib.js';
import { post } from './post.js';
import { forkChild } from './proc.js';

type Side = 'pgdispatch' | 'dbos';
type Kind = 'noop' | 'http';

interface Throughput {
  side: Side;
  kind: Kind;
  round: number;
  workflows: number;
  steps: number;
  ms: number;
  workflowsPerSec: number;
  stepsPerSec: number;
  postgresMsPerStep: number;
  nodeMsPerStep: number;
}

/** Where a pgdispatch wake's time goes, p50 of each stage in ms. */
interface WakeStages {
  /** Last child's end to the start of the transaction that recorded it (the `woken` event). */
  toGroup: number;
  /**
   * That transaction's start to the parent's body starting again: the
   * statement recording the children and waking the parent, its commit, and
   * the handover of the parent's job with its steps to the recording worker.
   */
  groupToRun: number;
  /** Body start to the step after the gather (replay of the 100 call steps). */
  replay: number;
}

interface Latency {
  side: Side;
  what: 'commit-to-first-step' | 'child-to-parent wake' | 'gather of 100 children';
  samples: number;
  p50: number;
  p90: number;
  max: number;
}

const STEPS = 10;
const arg = (flag: string, dflt: number) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const WORKFLOWS = arg('--workflows', 2_000);
const CONCURRENCY = arg('--concurrency', 50);
const ROUNDS = arg('--rounds', 1);
const DAYS_BACK = arg('--days-back', 0);
/** `--pgdispatch-only`: skip DBOS (quicker while iterating; ratios need both). */
const PGDISPATCH_ONLY = process.argv.includes('--pgdispatch-only');
const LATENCY_SAMPLES = 100;
const PARENTS = 20;
/** Parents run first and not counted: the first wake on each pooled connection plans its statements. */
const WARMUP_PARENTS = 5;
const CHILDREN = 100;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const summary = (side: Side, what: Latency['what'], xs: number[]): Latency => ({
  side,
  what,
  samples: xs.length,
  p50: pct(xs, 50),
  p90: pct(xs, 90),
  max: Math.max(...xs),
});

/** The postmaster of the server at `url`: the parent of a backend. */
async function postmasterOf(url: string): Promise<number | undefined> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ pid: number }>('select pg_backend_pid() as pid');
    const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  } finally {
    await c.end();
  }
}

const nodeCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function measure(
  side: Side,
  kind: Kind,
  round: number,
  postmaster: number | undefined,
  run: () => Promise<void>,
): Promise<Throughput> {
  const meter = new CpuMeter(postmaster, undefined, () => []);
  const cpu0 = nodeCpuMs();
  meter.start();
  const t0 = now();
  await run();
  const ms = now() - t0;
  const cpu = meter.stop();
  const nodeMs = nodeCpuMs() - cpu0;
  const steps = WORKFLOWS * STEPS;
  return {
    side,
    kind,
    round,
    workflows: WORKFLOWS,
    steps,
    ms,
    workflowsPerSec: WORKFLOWS / (ms / 1000),
    stepsPerSec: steps / (ms / 1000),
    postgresMsPerStep: (cpu?.postgresMs ?? Number.NaN) / steps,
    nodeMsPerStep: nodeMs / steps,
  };
}

// ---- pgdispatch ----------------------------------------------------------

async function pgdispatchSide(url: string, receiverUrl: string, postmaster: number | undefined) {
  const dispatch = pgd.createDispatch({
    connectionString: url,
    logger: pino({ level: 'warn' }),
    maxPoolSize: 20,
  });
  const firstStep = new Map<string, number>();
  /** Waiters for a call's first step: awaited, not polled, so no spinning loop takes a core. */
  const firstStepSeen = new Map<string, () => void>();
  const body = { type: 'step', data: { n: 1 } };
  const noop = dispatch.workflow('bench_wf_noop', async (_input: unknown, ctx) => {
    for (let i = 0; i < STEPS; i++) await ctx.step(`s${i}`, () => i);
    return 'ok';
  });
  const http = dispatch.workflow('bench_wf_http', async (_input: unknown, ctx) => {
    for (let i = 0; i < STEPS; i++) {
      await ctx.step(`s${i}`, () => post({ url: receiverUrl, body }));
    }
    return 'ok';
  });
  const first = dispatch.workflow('bench_wf_first', async (_input: unknown, ctx) => {
    await ctx.step('first', () => {
      firstStep.set(ctx.callId, now());
      firstStepSeen.get(ctx.callId)?.();
      return 1;
    });
  });
  const child = dispatch.func('bench_child', () => now());
  const bodyStart = new Map<string, number>();
  const firstStart = new Map<string, number>();
  const parent = dispatch.workflow('bench_wf_parent', async (_input: unknown, ctx) => {
    bodyStart.set(ctx.callId, now());
    if (!firstStart.has(ctx.callId)) firstStart.set(ctx.callId, now());
    const ends = await ctx.gather(Array.from({ length: CHILDREN }, () => ctx.call(child, null)));
    const resumed = await ctx.step('resumed', () => now());
    return { last: Math.max(...ends), resumed };
  });
  await dispatch.migrate();
  // `--days-back N`: the daily partitions of N past days exist (empty), as
  // N days of retention keep them; statements must prune them to stay fast.
  if (DAYS_BACK > 0)
    await dispatch.pool.query('select pgdispatch.partitions_create(7, $1)', [DAYS_BACK]);
  const worker = await dispatch.worker({
    concurrency: CONCURRENCY,
    pollIntervalMs: 1_000,
    retention: false,
  });
  const succeeded = async (fn: string) =>
    Number(
      (
        await dispatch.pool.query<{ n: string }>(
          `select count(*) as n from pgdispatch.calls where function = $1 and status = 'succeeded'`,
          [fn],
        )
      ).rows[0]!.n,
    );
  const runMany = (fn: typeof noop) => async () => {
    for (let i = 0; i < WORKFLOWS; i += 500) {
      await fn.dispatchMany(Array.from({ length: Math.min(500, WORKFLOWS - i) }, () => null));
    }
    let done = 0;
    while (done < WORKFLOWS) {
      await new Promise((r) => setTimeout(r, 20));
      done = await succeeded(fn.name);
    }
  };
  const out: {
    throughput: Throughput[];
    latency: Latency[];
    wakeStages?: WakeStages;
  } = { throughput: [], latency: [] };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      await dispatch.pool.query('delete from pgdispatch.calls');
      out.throughput.push(await measure('pgdispatch', 'noop', round, postmaster, runMany(noop)));
      await dispatch.pool.query('delete from pgdispatch.calls');
      out.throughput.push(await measure('pgdispatch', 'http', round, postmaster, runMany(http)));
    }
    const lat: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const id = await first.dispatch(null);
      const committed = now();
      if (!firstStep.has(id)) await new Promise<void>((r) => firstStepSeen.set(id, r));
      firstStepSeen.delete(id);
      lat.push(firstStep.get(id)! - committed);
      await new Promise((r) => setTimeout(r, 5));
    }
    out.latency.push(summary('pgdispatch', 'commit-to-first-step', lat));
    const wake: number[] = [];
    const gather: number[] = [];
    // The wake's stages: the `woken` event's time is its transaction's start
    // (wall clock, mapped to now()); the parent's body notes when it starts.
    // (The wall clock to a fraction of a millisecond: Date.now() would put
    // up to 1 ms of one stage into the next.)
    const wallToNow = now() - (performance.timeOrigin + performance.now());
    const stages: Record<keyof WakeStages, number[]> = { toGroup: [], groupToRun: [], replay: [] };
    for (let i = 0; i < WARMUP_PARENTS + PARENTS; i++) {
      const id = await parent.dispatch(null);
      for (;;) {
        const c = await dispatch.getCall(id);
        if (c?.status === 'succeeded') {
          const o = c.output as { last: number; resumed: number };
          wake.push(o.resumed - o.last);
          gather.push(o.resumed - firstStart.get(id)!);
          const woken = await dispatch.pool.query<{ at: number }>(
            `select extract(epoch from at) * 1000 as at from pgdispatch.call_events
              where call_id = $1 and event = 'woken' order by id desc limit 1`,
            [id],
          );
          const group = Number(woken.rows[0]?.at) + wallToNow;
          const top = bodyStart.get(id)!;
          stages.toGroup.push(group - o.last);
          stages.groupToRun.push(top - group);
          stages.replay.push(o.resumed - top);
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    wake.splice(0, WARMUP_PARENTS);
    gather.splice(0, WARMUP_PARENTS);
    for (const xs of Object.values(stages)) xs.splice(0, WARMUP_PARENTS);
    out.latency.push(summary('pgdispatch', 'child-to-parent wake', wake));
    out.latency.push(summary('pgdispatch', 'gather of 100 children', gather));
    out.wakeStages = {
      toGroup: pct(stages.toGroup, 50),
      groupToRun: pct(stages.groupToRun, 50),
      replay: pct(stages.replay, 50),
    };
  } finally {
    await worker.stop();
    await dispatch.close();
  }
  return out;
}

// ---- DBOS ------------------------------------------------------------------

async function dbosSide(url: string, receiverUrl: string, postmaster: number | undefined) {
  const { DBOS } = await import('@dbos-inc/dbos-sdk');
  DBOS.setConfig({ name: 'bench', systemDatabaseUrl: url, logLevel: 'error' });
  const body = { type: 'step', data: { n: 1 } };
  const firstStep = new Map<number, number>();
  const noopSteps = Array.from({ length: STEPS }, (_, i) =>
    DBOS.registerStep(async () => i, { name: `noop_s${i}` }),
  );
  const httpSteps = Array.from({ length: STEPS }, (_, i) =>
    DBOS.registerStep(async () => post({ url: receiverUrl, body }), { name: `http_s${i}` }),
  );
  const noop = DBOS.registerWorkflow(
    async (_n: number) => {
      for (const s of noopSteps) await s();
      return 'ok';
    },
    { name: 'bench_wf_noop' },
  );
  const http = DBOS.registerWorkflow(
    async (_n: number) => {
      for (const s of httpSteps) await s();
      return 'ok';
    },
    { name: 'bench_wf_http' },
  );
  const firstStepFn = DBOS.registerStep(
    async (n: number) => {
      firstStep.set(n, now());
      return 1;
    },
    { name: 'first' },
  );
  const first = DBOS.registerWorkflow(
    async (n: number) => {
      await firstStepFn(n);
    },
    { name: 'bench_wf_first' },
  );
  const childEnd = DBOS.registerStep(async () => now(), { name: 'child_end' });
  const child = DBOS.registerWorkflow(async (_n: number) => childEnd(), { name: 'bench_child' });
  const resumedStep = DBOS.registerStep(async () => now(), { name: 'resumed' });
  const startedStep = DBOS.registerStep(async () => now(), { name: 'started' });
  const parent = DBOS.registerWorkflow(
    async (_n: number) => {
      const started = await startedStep();
      const handles = await Promise.all(
        Array.from({ length: CHILDREN }, (_, i) => DBOS.startWorkflow(child)(i)),
      );
      const ends = await Promise.all(handles.map((h) => h.getResult()));
      const resumed = await resumedStep();
      return { started, last: Math.max(...ends), resumed };
    },
    { name: 'bench_wf_parent' },
  );
  await DBOS.launch();
  const runMany = (wf: (n: number) => Promise<string>) => async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < WORKFLOWS) await wf(next++);
      }),
    );
  };
  const out: { throughput: Throughput[]; latency: Latency[] } = { throughput: [], latency: [] };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      out.throughput.push(await measure('dbos', 'noop', round, postmaster, runMany(noop)));
      out.throughput.push(await measure('dbos', 'http', round, postmaster, runMany(http)));
    }
    const lat: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const started = now();
      const h = await DBOS.startWorkflow(first)(i);
      await h.getResult();
      lat.push(firstStep.get(i)! - started);
      await new Promise((r) => setTimeout(r, 5));
    }
    out.latency.push(summary('dbos', 'commit-to-first-step', lat));
    const wake: number[] = [];
    const gather: number[] = [];
    for (let i = 0; i < WARMUP_PARENTS + PARENTS; i++) {
      const o = await parent(i);
      wake.push(o.resumed - o.last);
      gather.push(o.resumed - o.started);
    }
    wake.splice(0, WARMUP_PARENTS);
    gather.splice(0, WARMUP_PARENTS);
    out.latency.push(summary('dbos', 'child-to-parent wake', wake));
    out.latency.push(summary('dbos', 'gather of 100 children', gather));
  } finally {
    await DBOS.shutdown();
  }
  return out;
}

// ---- the run -----------------------------------------------------------------

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '-';

async function main(): Promise<void> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(ROOT, 'bench', 'results');
  const logDir = join(resultsDir, `workflow-${stamp}-logs`);
  mkdirSync(logDir, { recursive: true });
  const dbs = await Databases.open();
  const machine = await dbs.machine();
  const receiver = forkChild({
    name: 'receiver',
    script: fileURLToPath(new URL('./receiver.js', import.meta.url)),
    logDir,
  });
  let pgdOut: Awaited<ReturnType<typeof pgdispatchSide>> | undefined;
  let dbosOut: Awaited<ReturnType<typeof dbosSide>> | undefined;
  let dbosError: string | undefined;
  try {
    const { port } = await receiver.waitFor('ready', 30_000);
    const receiverUrl = `http://127.0.0.1:${port}/hook`;
    const a = await dbs.fresh('wf_pgdispatch');
    const b = await dbs.fresh('wf_dbos');
    const postmaster = await postmasterOf(a.url);
    console.log(
      `Postgres ${machine.postgres} (${machine.database}), ${machine.cores} cores, ` +
        `${WORKFLOWS} workflows × ${STEPS} steps, concurrency ${CONCURRENCY}`,
    );
    try {
      console.log('pgdispatch…');
      pgdOut = await pgdispatchSide(a.url, receiverUrl, postmaster);
      console.log('DBOS…');
      try {
        if (PGDISPATCH_ONLY) throw new Error('skipped (--pgdispatch-only)');
        dbosOut = await dbosSide(b.url, receiverUrl, postmaster);
      } catch (err) {
        dbosError = err instanceof Error ? (err.stack ?? err.message) : String(err);
      }
    } finally {
      await a.drop();
      await b.drop();
    }
  } finally {
    await receiver.stop();
    await dbs.close();
  }

  const best = (side: Side, kind: Kind) =>
    [...((side === 'pgdispatch' ? pgdOut : dbosOut)?.throughput ?? [])]
      .filter((t) => t.kind === kind)
      .sort((x, y) => y.stepsPerSec - x.stepsPerSec)[0];
  const lines: string[] = [];
  const row = (
    label: string,
    p: number | undefined,
    d: number | undefined,
    digits = 0,
    lowerIsBetter = false,
  ) => {
    const ratio =
      p !== undefined && d !== undefined && d > 0 && p > 0
        ? lowerIsBetter
          ? d / p
          : p / d
        : Number.NaN;
    lines.push(
      `${label.padEnd(38)} ${fmt(p ?? Number.NaN, digits).padStart(10)} ${fmt(d ?? Number.NaN, digits).padStart(10)} ${Number.isFinite(ratio) ? `${fmt(ratio, 1)}×` : '-'}`,
    );
  };
  lines.push(`${''.padEnd(38)} ${'pgdispatch'.padStart(10)} ${'DBOS'.padStart(10)} better by`);
  for (const kind of ['noop', 'http'] as const) {
    const p = best('pgdispatch', kind);
    const d = best('dbos', kind);
    const k = kind === 'noop' ? 'no-op steps' : 'HTTP POST steps';
    row(`${k}: workflows/s`, p?.workflowsPerSec, d?.workflowsPerSec);
    row(`${k}: steps/s`, p?.stepsPerSec, d?.stepsPerSec);
    row(`${k}: Postgres CPU ms/step`, p?.postgresMsPerStep, d?.postgresMsPerStep, 3, true);
    row(`${k}: Node CPU ms/step`, p?.nodeMsPerStep, d?.nodeMsPerStep, 3, true);
  }
  for (const what of ['commit-to-first-step', 'child-to-parent wake', 'gather of 100 children'] as const) {
    const p = pgdOut?.latency.find((l) => l.what === what);
    const d = dbosOut?.latency.find((l) => l.what === what);
    row(`${what} p50 ms`, p?.p50, d?.p50, 2, true);
    row(`${what} p90 ms`, p?.p90, d?.p90, 2, true);
  }
  const st = pgdOut?.wakeStages;
  if (st) {
    lines.push(
      `\npgdispatch wake stages, p50 ms: last child's end → its outcome's transaction ${fmt(st.toGroup, 1)}, ` +
        `→ parent's body runs (recorded, woken, handed over) ${fmt(st.groupToRun, 1)}, ` +
        `→ step after the gather (replay) ${fmt(st.replay, 1)}`,
    );
  }
  const table = lines.join('\n');
  console.log(`\n${table}`);
  if (dbosError) console.log(`\nDBOS could not run: ${dbosError}`);
  const file = join(resultsDir, `workflow-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ startedAt, machine, workflows: WORKFLOWS, steps: STEPS, concurrency: CONCURRENCY, pgdispatch: pgdOut, dbos: dbosOut, dbosError, table }, null, 2)}\n`,
  );
  console.log(`\nResults: ${file}`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
