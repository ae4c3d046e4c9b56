/**
 * Schedules across worker processes: three `pgdispatch worker` processes and
 * per-second schedules. Every worker runs the scheduler; a tick must become
 * exactly one call, none missing, a schedule disabled with SQL must stop
 * within a tick, and after all workers stop for 10 s (twice the 5 s after
 * which ticks count as missed) a skip schedule runs none of the missed ticks
 * and a catch-up-3 schedule exactly 3.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { runCli, spawnWorker, type WorkerProcess } from './support/processes.js';

let db: TestDatabase;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    'create table runs (call_id bigint, attempt int, pid int, at timestamptz default clock_timestamp())',
  );
  await db.pool.query(
    `insert into pgdispatch.functions (name, retry_policy) values ('count', 'default')`,
  );
});
afterEach(() => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
});
afterAll(() => db.drop());

function start(n: number): WorkerProcess[] {
  const started = Array.from({ length: n }, () =>
    spawnWorker(
      [
        '--module',
        'test/fixtures/counting-functions.mjs',
        '--concurrency',
        '5',
        '--retention',
        'off',
      ],
      {
        DATABASE_URL: db.url,
        LOG_LEVEL: 'warn',
      },
    ),
  );
  workers.push(...started);
  return started;
}

async function stop(list: WorkerProcess[]): Promise<void> {
  for (const w of list) w.child.kill('SIGTERM');
  const codes = await Promise.all(list.map((w) => w.exited));
  for (const [i, c] of codes.entries()) expect(c, list[i]!.output()).toBe(0);
}

interface Tick {
  tick: number;
  callId: string;
  lateMs: number;
}

async function ticksOf(name: string): Promise<Tick[]> {
  const { rows } = await db.pool.query<{ key: string; id: string; created_at: Date }>(
    `select idempotency_key as key, id::text, created_at from pgdispatch.calls
      where function = 'count' and idempotency_key like $1 order by id`,
    [`schedule:${name}:%`],
  );
  return rows
    .map((r) => {
      const tick = Date.parse(r.key.slice(`schedule:${name}:`.length));
      return { tick, callId: r.id, lateMs: r.created_at.getTime() - tick };
    })
    .sort((a, b) => a.tick - b.tick);
}

/** Runs of consecutive seconds in a sorted tick list. */
function runsOf(ticks: Tick[]): Tick[][] {
  const runs: Tick[][] = [];
  for (const t of ticks) {
    const last = runs.at(-1);
    if (last && t.tick - last.at(-1)!.tick === 1_000) last.push(t);
    else runs.push([t]);
  }
  return runs;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('schedules on three workers', () => {
  it('one call per tick, none missing; disabled stops within a tick; downtime rules', async () => {
    // Declared from the CLI and from SQL: the rows are what matters.
    const set = await runCli(
      [
        'schedules',
        'set',
        'skip',
        '--cron',
        '* * * * * *',
        '--function',
        'count',
        '--input',
        '{"s":"skip"}',
      ],
      { DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
    );
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    await db.pool.query(`insert into pgdispatch.schedules (name, function, cron, catch_up) values
      ('catchup', 'count', '* * * * * *', 3), ('stopped', 'count', '* * * * * *', 0)`);

    const first = start(3);
    await eventually(async () => (await ticksOf('skip')).length >= 3, {
      message: 'ticks started',
      timeoutMs: 30_000,
    });
    await sleep(3_000);
    await db.pool.query(`update pgdispatch.schedules set enabled = false where name = 'stopped'`);
    const disabledAt = Date.now();
    await sleep(3_000);
    await stop(first);
    const stoppedAt = Date.now();
    await sleep(10_000 - (Date.now() - stoppedAt));
    const second = start(3);
    const restartedAt = Date.now();
    await eventually(
      async () => (await ticksOf('skip')).filter((t) => t.tick > restartedAt).length >= 4,
      { message: 'ticks resumed', timeoutMs: 30_000 },
    );
    await stop(second);
    // Every call ran, once.
    await eventually(
      async () =>
        Number(
          (
            await db.pool.query(
              `select count(*) as n from pgdispatch.calls where status <> 'succeeded'`,
            )
          ).rows[0].n,
        ) === 0,
      { message: 'all calls ran' },
    );
    const runs = (
      await db.pool.query(`select call_id, count(*)::int as n from runs group by call_id`)
    ).rows;
    expect(runs.every((r) => r.n === 1)).toBe(true);

    // The skip schedule: two unbroken runs of ticks, before and after the
    // stop, nothing from the downtime, nothing dispatched late.
    const skip = await ticksOf('skip');
    expect(runs.length).toBe(
      Number((await db.pool.query(`select count(*) as n from pgdispatch.calls`)).rows[0].n),
    );
    const skipRuns = runsOf(skip);
    expect(skipRuns.length, JSON.stringify(skipRuns.map((r) => r.length))).toBe(2);
    const gap = skipRuns[1]![0]!.tick - skipRuns[0]!.at(-1)!.tick;
    expect(gap).toBeGreaterThanOrEqual(10_000);
    expect(skipRuns[0]!.length).toBeGreaterThanOrEqual(8);
    expect(skip.filter((t) => t.lateMs > 2_000)).toEqual([]);
    // Each call shows its tick: the first attempt was due at the tick.
    const tickOf = (
      await db.pool.query(
        `select id::text, created_at from pgdispatch.calls where idempotency_key = $1`,
        [`schedule:skip:${new Date(skip[0]!.tick).toISOString()}`],
      )
    ).rows;
    expect(tickOf).toHaveLength(1);

    // The catch-up schedule: of the ticks missed up to the first round after
    // the restart, the latest 3 ran, dispatched by that round.
    const { rows: round } = await db.pool.query<{ at: Date }>(
      `select min(created_at) as at from pgdispatch.calls where created_at > $1`,
      [new Date(stoppedAt)],
    );
    const firstRound = round[0]!.at.getTime();
    const catchup = await ticksOf('catchup');
    const catchupRuns = runsOf(catchup);
    expect(catchupRuns.length).toBe(2);
    const missed = catchup.filter(
      (t) => t.tick > catchupRuns[0]!.at(-1)!.tick && t.tick <= firstRound,
    );
    const lastSecond = Math.floor(firstRound / 1_000) * 1_000;
    expect(missed.map((t) => t.tick)).toEqual([lastSecond - 2_000, lastSecond - 1_000, lastSecond]);
    for (const t of missed) expect(t.lateMs).toBe(firstRound - t.tick);
    expect(missed[0]!.tick - catchupRuns[0]!.at(-1)!.tick).toBeGreaterThanOrEqual(7_000);
    // The skip schedule ran none of them.
    expect(skip.filter((t) => t.tick > skipRuns[0]!.at(-1)!.tick && t.tick <= firstRound)).toEqual(
      [],
    );

    // The schedule disabled with SQL: no tick more than one second after.
    const stopped = await ticksOf('stopped');
    expect(stopped.length).toBeGreaterThanOrEqual(3);
    expect(runsOf(stopped)).toHaveLength(1);
    expect(stopped.at(-1)!.tick).toBeLessThanOrEqual(disabledAt + 1_000);
  });
});
