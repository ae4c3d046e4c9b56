/**
 * The operator's commands, run as the real `pgdispatch` binary from dist/:
 * help, argument errors, an unreachable database, and each command on
 * seeded data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dispatch, PermanentError } from '../src/index.js';
import type { WorkerHandle } from '../src/worker/start.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { runCli } from './support/processes.js';

const COMMANDS = [
  'migrate',
  'worker',
  'workers',
  'calls',
  'show',
  'stats',
  'retry',
  'cancel',
  'policies',
  'prune',
];
const DB_COMMANDS: string[][] = [
  ['migrate'],
  ['workers'],
  ['calls'],
  ['show', '1'],
  ['stats'],
  ['retry', '1'],
  ['retry', '--status', 'failed'],
  ['cancel', '1'],
  ['policies'],
  ['prune', '--older-than', '7d'],
];
const UNREACHABLE = 'postgres://nobody@127.0.0.1:1/nothing';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
let healthy = false;
const cli = (...args: string[]) => runCli(args, { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
const ids: Record<'ok' | 'failed', string[]> = { ok: [], failed: [] };

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch();
  dispatch.func('deliver', async (input: { fail?: boolean }) => {
    if (input.fail && !healthy) throw new PermanentError('receiver said no');
    return 'ok';
  });
  dispatch.func('other', () => 'fine');
  await dispatch.migrate();
  worker = await dispatch.worker({
    concurrency: 10,
    heartbeatIntervalMs: 500,
    rescueAfterMs: 5_000,
  });
  ids.ok = await dispatch.dispatchMany(
    'deliver',
    Array.from({ length: 6 }, () => ({})),
  );
  ids.failed = await dispatch.dispatchMany(
    'deliver',
    Array.from({ length: 4 }, () => ({ fail: true })),
  );
  await dispatch.dispatch('other', {});
  await eventually(async () => {
    const { rows } = await db.pool.query(
      `select count(*)::int as n from pgdispatch.calls where finished_at is null`,
    );
    return rows[0].n === 0;
  });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

describe('help and argument errors', () => {
  it('every command has --help (exit 0)', async () => {
    const results = await Promise.all(COMMANDS.map((c) => runCli([c, '--help'])));
    results.forEach((r, i) => {
      expect(r.code, COMMANDS[i]).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: pgdispatch ${COMMANDS[i]}`));
    });
    const top = await runCli(['--help']);
    for (const c of COMMANDS) expect(top.stdout).toContain(`  ${c} `);
  });

  it('bad arguments: one clear line, exit code 2, no stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['calls', '--since', '3x'], /--since: invalid duration "3x"/],
      [['calls', '--status', 'done'], /--status: "done" is not one of/],
      [['calls', '--limit', '0'], /--limit must be an integer/],
      [['calls', '--bogus'], /Unknown option '--bogus'/],
      [['show'], /a call id is required/],
      [['show', 'abc'], /invalid call id "abc"/],
      [['retry'], /give a call id, or select calls/],
      [['retry', '--status', 'succeeded'], /--status: "succeeded" is not one of failed, cancelled/],
      [['cancel', '5', '--function', 'x'], /not both/],
      [['prune'], /--older-than is required/],
      [['prune', '--older-than', 'soon'], /--older-than: invalid duration/],
      [['policies', 'set', 'p1', '--delays', '5s,1q'], /--delays: invalid duration "1q"/],
      [['policies', 'set', 'p1', '--delays', '5s', '--base', '1s'], /either --delays or --base/],
      [
        ['policies', 'set', 'p1', '--base', '1s', '--jitter', '2'],
        /--jitter must be a number between 0 and 1/,
      ],
      [['policies', 'frobnicate'], /unknown subcommand "frobnicate"/],
      [['workers', 'extra'], /unexpected argument "extra"/],
      [['worker'], /--module is required/],
      [
        ['worker', '--module', 'x.mjs', '--metrics-port', 'http'],
        /--metrics-port must be an integer/,
      ],
      [
        ['worker', '--module', 'x.mjs', '--rescue-after', '1s', '--heartbeat-interval', '5s'],
        /--rescue-after must be longer/,
      ],
      [['nope'], /unknown command "nope"/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0], args.join(' ')).toMatch(/^pgdispatch: /);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    });
  });

  it('an unreachable database: one line, exit code 1, no stack trace', async () => {
    const results = await Promise.all(
      DB_COMMANDS.map((args) =>
        runCli([...args, '--database-url', UNREACHABLE], { LOG_LEVEL: 'silent' }),
      ),
    );
    results.forEach((r, i) => {
      const label = DB_COMMANDS[i]!.join(' ');
      expect(r.code, label).toBe(1);
      expect(r.stderr.trim().split('\n'), label).toHaveLength(1);
      expect(r.stderr, label).toMatch(
        /^pgdispatch: (cannot reach the database|database unavailable).*ECONNREFUSED 127\.0\.0\.1:1/,
      );
    });
    const noUrl = await runCli(['calls'], { DATABASE_URL: '' });
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toMatch(/no database: set DATABASE_URL or pass --database-url/);
  });
});

describe('on seeded data', () => {
  it('calls lists as a table and as JSON, filtered', async () => {
    const table = await cli('calls');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^ID\s+FUNCTION\s+STATUS\s+ATTEMPTS\s+CREATED\s+NEXT ATTEMPT\s+LAST ERROR$/,
    );
    expect(lines).toHaveLength(1 + 11);
    const failed = await cli(
      'calls',
      '--status',
      'failed',
      '--function',
      'deliver',
      '--since',
      '1h',
      '--json',
    );
    const rows = JSON.parse(failed.stdout) as { id: string; status: string; last_error: string }[];
    expect(rows.map((r) => r.id).sort()).toEqual([...ids.failed].sort());
    expect(rows[0]).toMatchObject({ status: 'failed', last_error: 'receiver said no' });
    expect(await cli('calls', '--since', '1ms', '--limit', '2')).toMatchObject({
      code: 0,
      stdout: 'no calls match\n',
    });
  });

  it('show prints the call and its timeline', async () => {
    const r = await cli('show', ids.failed[0]!);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^call ${ids.failed[0]}: deliver, failed`));
    expect(r.stdout).toMatch(/last error\s+receiver said no/);
    expect(r.stdout).toMatch(/AT\s+EVENT\s+STATUS\s+ATTEMPT\s+HTTP\s+DURATION\s+DETAIL/);
    expect(r.stdout).toMatch(/dispatched\s+pending/);
    expect(r.stdout).toMatch(/attempt\s+permanent_error\s+1\s+\d+ms\s+receiver said no/);
    const missing = await cli('show', '999999');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('pgdispatch: call 999999 not found\n');
  });

  it('stats prints counts by status and latency percentiles', async () => {
    const r = await cli('stats', '--since', '1h');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /FUNCTION\s+PENDING\s+RETRYING\s+SUCCEEDED\s+FAILED\s+CANCELLED\s+ATTEMPTS\s+P50\s+P90\s+P99/,
    );
    expect(r.stdout).toMatch(/deliver\s+0\s+0\s+6\s+4\s+0\s+10\s+\S+\s+\S+\s+\S+/);
    expect(r.stdout).toMatch(/other\s+0\s+0\s+1\s+0\s+0\s+1/);
    const json = JSON.parse((await cli('stats', '--json')).stdout) as {
      function: string;
      p99: number;
    }[];
    expect(json.find((s) => s.function === 'deliver')!.p99).toBeGreaterThanOrEqual(0);
  });

  it('policies lists and sets retry policies', async () => {
    expect(
      (
        await cli(
          'policies',
          'set',
          'fast',
          '--delays',
          '1s,30s,5m',
          '--max-attempts',
          '5',
          '--max-age',
          '1d',
        )
      ).code,
    ).toBe(0);
    expect(
      (
        await cli(
          'policies',
          'set',
          'exp',
          '--base',
          '2s',
          '--factor',
          '3',
          '--cap',
          '10m',
          '--jitter',
          '0.2',
        )
      ).code,
    ).toBe(0);
    expect((await cli('policies', 'set', 'fast', '--max-attempts', '7')).stdout).toBe(
      'policy fast updated\n',
    );
    const newWithoutSchedule = await cli('policies', 'set', 'ghost', '--max-attempts', '3');
    expect(newWithoutSchedule.code).toBe(2);
    expect(newWithoutSchedule.stderr).toMatch(/a new policy needs --delays or --base/);
    const r = await cli('policies');
    expect(r.stdout).toMatch(/^NAME\s+SCHEDULE\s+JITTER\s+MAX ATTEMPTS\s+MAX AGE\s+DESCRIPTION/);
    expect(r.stdout).toMatch(/default\s+exponential 1s x2 cap 1h\s+0.1\s+25/);
    expect(r.stdout).toMatch(/fast\s+1s,30s,5m\s+0\s+7\s+1d/);
    expect(r.stdout).toMatch(/exp\s+exponential 2s x3 cap 10m\s+0.2\s+25\s+-/);
    expect(r.stdout).toMatch(/webhook\s+5s,5m,30m,2h,5h,10h,14h,20h,1d/);
  });

  it('workers lists the live worker with its heartbeat age', async () => {
    const r = await cli('workers');
    expect(r.stdout).toMatch(
      /^ID\s+HOST\s+PID\s+STARTED\s+HEARTBEAT\s+CONCURRENCY\s+JOBS\s+VERSION\s+FUNCTIONS/,
    );
    expect(r.stdout).toContain(worker.id);
    expect(r.stdout).toMatch(
      new RegExp(
        `${worker.id}\\s+\\S+\\s+${process.pid}\\s+.*\\s+\\d+ms ago\\s+10\\s+0\\s+0\\.1\\.0\\s+\\S*deliver,other`,
      ),
    );
  });

  it('retry --status failed brings failed calls back, and they succeed', async () => {
    healthy = true;
    const r = await cli(
      'retry',
      '--status',
      'failed',
      '--function',
      'deliver',
      '--since',
      '1h',
      '--batch-size',
      '3',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('retried 4 of 4 matching call(s)\n');
    await eventually(async () => {
      const { rows } = await db.pool.query(
        `select count(*)::int as n from pgdispatch.calls where status = 'succeeded'`,
      );
      return rows[0].n === 11;
    });
    const history = await dispatch.getHistory(ids.failed[0]!);
    expect(history.map((h) => [h.event, h.attempt])).toEqual([
      ['dispatched', null],
      ['attempt', 1],
      ['retried', 2],
      ['attempt', 2],
    ]);
    expect(history[2]!.detail).toMatch(/bulk retry by cli:/);
    const again = await cli('retry', ids.failed[0]!);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/call \d+ was not retried: only failed or cancelled calls can be/);
  });

  it('cancel stops pending calls, one or in bulk', async () => {
    const later = new Date(Date.now() + 3_600_000);
    const [one, ...rest] = await dispatch.dispatchMany('other', [1, 2, 3, 4], { runAt: later });
    const single = await cli('cancel', one!, '--reason', 'typo');
    expect(single.stdout).toBe(`call ${one} cancelled\n`);
    const bulk = await cli(
      'cancel',
      '--function',
      'other',
      '--status',
      'pending',
      '--reason',
      'endpoint retired',
    );
    expect(bulk.stdout).toBe(`cancelled ${rest.length} of ${rest.length} matching call(s)\n`);
    const { rows } = await db.pool.query(
      `select count(*)::int as n from pgdispatch.calls where status = 'cancelled' and function = 'other'`,
    );
    expect(rows[0].n).toBe(4);
    expect((await dispatch.getHistory(one!)).at(-1)).toMatchObject({
      event: 'cancelled',
      detail: expect.stringMatching(/^typo by cli:/),
    });
  });

  it('prune removes only old finished calls', async () => {
    // Old and finished: two succeeded, one failed. Old but unfinished: one pending (future run).
    const [p1, p2] = ids.ok;
    await db.pool.query(
      `update pgdispatch.calls set created_at = now() - interval '20 days', finished_at = now() - interval '10 days'
        where id = any($1::bigint[])`,
      [[p1, p2, ids.failed[1]]],
    );
    const [pending] = await dispatch.dispatchMany('other', [9], {
      runAt: new Date(Date.now() + 3_600_000),
    });
    await db.pool.query(
      `update pgdispatch.calls set created_at = now() - interval '20 days' where id = $1`,
      [pending],
    );
    const before = (await db.pool.query(`select count(*)::int as n from pgdispatch.calls`)).rows[0]
      .n as number;
    const r = await cli('prune', '--older-than', '7d', '--batch-size', '2');
    expect(r.stdout).toBe('pruned 3 finished call(s) older than 7d\n');
    const left = (await db.pool.query(`select id::text from pgdispatch.calls`)).rows.map(
      (x) => x.id as string,
    );
    expect(left).toHaveLength(before - 3);
    expect(left).not.toContain(p1);
    expect(left).not.toContain(ids.failed[1]);
    expect(left).toContain(pending);
    // Their attempts and events went with them.
    const orphans = await db.pool.query(
      `select count(*)::int as n from pgdispatch.attempts where call_id = any($1::bigint[])`,
      [[p1, p2, ids.failed[1]]],
    );
    expect(orphans.rows[0].n).toBe(0);
    expect((await cli('prune', '--older-than', '7d')).stdout).toBe(
      'pruned 0 finished call(s) older than 7d\n',
    );
  });
});
