import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatch } from '../src/index.js';
import { parseCron, planTicks } from '../src/core/cron.js';
import { Scheduler } from '../src/maintain/scheduler.js';
import { createRuntime } from '../src/sql/runtime.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { runCli } from './support/processes.js';

let db: TestDatabase;
let d: Dispatch;

beforeAll(async () => {
  db = await createTestDatabase();
  d = db.dispatch();
  d.func('tick', async () => 'ok');
  await d.migrate();
});
afterAll(() => db.drop());

const count = async (sql: string, values: unknown[] = []) =>
  Number((await db.pool.query(sql, values)).rows[0].n);
const scheduler = () => {
  const logger = pino({ level: 'silent' });
  return new Scheduler(createRuntime(db.pool, 'pgdispatch', logger), logger);
};
const at = (s: string) => new Date(`2026-01-01T${s}Z`);

describe('planTicks', () => {
  const everySecond = parseCron('* * * * * *');

  it('runs every due tick while workers were scheduling, however late', () => {
    const plan = planTicks(everySecond, at('00:00:01'), at('00:00:03.5'), at('00:00:03.5'), 0);
    expect(plan.ticks).toEqual([at('00:00:01'), at('00:00:02'), at('00:00:03')]);
    expect(plan.nextTick).toEqual(at('00:00:04'));
    expect(plan.dropped).toBe(0);
  });

  it('skips the ticks of a downtime, or runs the latest N of them', () => {
    // The last round was at 00:00:01.5, this one at 00:00:10.5: 2..10 were missed.
    const skip = planTicks(everySecond, at('00:00:01'), at('00:00:10.5'), at('00:00:01.5'), 0);
    expect(skip.ticks).toEqual([at('00:00:01')]);
    expect(skip.dropped).toBe(9);
    expect(skip.nextTick).toEqual(at('00:00:11'));
    const three = planTicks(everySecond, at('00:00:02'), at('00:00:10.5'), at('00:00:01.5'), 3);
    expect(three.ticks).toEqual([at('00:00:08'), at('00:00:09'), at('00:00:10')]);
    expect(three.dropped).toBe(6);
    const more = planTicks(everySecond, at('00:00:08'), at('00:00:10.5'), at('00:00:01.5'), 50);
    expect(more.ticks).toEqual([at('00:00:08'), at('00:00:09'), at('00:00:10')]);
  });

  it('reads the expression in its time zone', () => {
    const paris = parseCron('0 3 * * *', 'Europe/Paris');
    expect(paris.nextRun(at('00:00:00'))).toEqual(new Date('2026-01-01T02:00:00Z'));
  });
});

describe('dispatch.schedule', () => {
  it('refuses a bad expression, an unknown zone or a negative catch-up, writing nothing', async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ cron: 'every minute' }, /invalid cron expression "every minute"/],
      [{ cron: '61 * * * *' }, /minute/],
      [{ cron: '' }, /cron expression is 1-256 characters/],
      [{ cron: '0 0 31 2 *' }, /never fires/],
      [{ cron: '* * * * *', timezone: 'Mars/Olympus' }, /unknown time zone "Mars\/Olympus"/],
      [{ cron: '* * * * *', catchUp: -1 }, /catchUp must be an integer/],
    ];
    for (const [spec, message] of bad) {
      const err = await d
        .schedule('bad', { function: 'tick', cron: '* * * * *', ...spec } as never)
        .catch((e: unknown) => e);
      expect(err, JSON.stringify(spec)).toMatchObject({ code: 'INVALID_SCHEDULE' });
      expect((err as Error).message).toMatch(message);
    }
    await expect(
      d.schedule('bad name!', { function: 'tick', cron: '* * * * *' }),
    ).rejects.toMatchObject({
      code: 'INVALID_SCHEDULE',
    });
    await expect(d.schedule('nofn', { function: 'nope', cron: '* * * * *' })).rejects.toMatchObject(
      {
        code: 'UNKNOWN_FUNCTION',
      },
    );
    expect(await count('select count(*) as n from pgdispatch.schedules')).toBe(0);
  });

  it('is idempotent: declaring the same schedule again changes nothing', async () => {
    const first = await d.schedule('hourly', {
      function: 'tick',
      cron: '@hourly',
      input: { a: 1 },
    });
    expect(first).toMatchObject({
      name: 'hourly',
      cron: '@hourly',
      timezone: 'UTC',
      enabled: true,
      catch_up: 0,
    });
    await scheduler().runOnce();
    const planned = (await d.schedules.get('hourly'))!;
    expect(planned.next_tick).not.toBeNull();
    const again = await d.schedule('hourly', {
      function: 'tick',
      cron: '@hourly',
      input: { a: 1 },
    });
    expect(again.next_tick).toEqual(planned.next_tick);
    expect(again.updated_at).toEqual(planned.updated_at);
    // An operator's disable survives the next deploy's declaration.
    await d.schedules.disable('hourly');
    expect((await d.schedule('hourly', { function: 'tick', cron: '@hourly' })).enabled).toBe(false);
    await d.schedules.remove('hourly');
    await expect(d.schedules.enable('hourly')).rejects.toMatchObject({ code: 'UNKNOWN_SCHEDULE' });
  });
});

describe('the scheduler', () => {
  it('marks a bad row written with SQL and keeps scheduling the others', async () => {
    await db.pool.query(`insert into pgdispatch.schedules (name, function, cron) values
      ('sql-bad-cron', 'tick', '* * * *'), ('sql-good', 'tick', '* * * * * *')`);
    await db.pool.query(`insert into pgdispatch.schedules (name, function, cron, timezone)
      values ('sql-bad-zone', 'tick', '* * * * *', 'Nowhere/Town')`);
    await db.pool.query(`insert into pgdispatch.schedules (name, function, cron)
      values ('sql-bad-function', 'gone', '* * * * * *')`);
    const s = scheduler();
    await s.runOnce();
    await new Promise((r) => setTimeout(r, 1_100));
    await s.runOnce();
    const rows = (
      await db.pool.query<{ name: string; error: string | null }>(
        `select name, error from pgdispatch.schedules where name like 'sql-%' order by name`,
      )
    ).rows;
    expect(rows).toEqual([
      { name: 'sql-bad-cron', error: expect.stringMatching(/invalid cron expression/) },
      {
        name: 'sql-bad-function',
        error: expect.stringMatching(/dispatch failed: .*unknown function 'gone'/),
      },
      { name: 'sql-bad-zone', error: expect.stringMatching(/unknown time zone "Nowhere\/Town"/) },
      { name: 'sql-good', error: null },
    ]);
    // One or two ticks, depending on where in its second the first round fell.
    const good = await count(
      `select count(*) as n from pgdispatch.calls where idempotency_key like 'schedule:sql-good:%'`,
    );
    expect(good).toBeGreaterThanOrEqual(1);
    expect(good).toBeLessThanOrEqual(2);
    // An edit clears the error: the row is looked at again.
    await db.pool.query(
      `update pgdispatch.schedules set cron = '* * * * *' where name = 'sql-bad-cron'`,
    );
    await s.runOnce();
    const fixed = (await d.schedules.get('sql-bad-cron'))!;
    expect(fixed.error).toBeNull();
    expect(fixed.next_tick).not.toBeNull();
    await db.pool.query(`delete from pgdispatch.schedules where name like 'sql-%'`);
  });

  it('in a worker: one call per tick with its scheduled time, an edit from the next tick', async () => {
    await d.schedule('every-second', { function: 'tick', cron: '* * * * * *', input: { n: 1 } });
    const worker = await d.worker({ concurrency: 5, retention: false });
    try {
      await eventually(
        async () =>
          (await count(`select count(*) as n from pgdispatch.calls where status = 'succeeded'
                          and idempotency_key like 'schedule:every-second:%'`)) >= 3,
        { message: 'three ticks ran', timeoutMs: 10_000 },
      );
      await d.schedule('every-second', { function: 'tick', cron: '* * * * * *', input: { n: 2 } });
      const editedAt = Date.now();
      await new Promise((r) => setTimeout(r, 2_100));
      const calls = (
        await db.pool.query<{ key: string; input: { n: number }; created_at: Date }>(
          `select idempotency_key as key, input, created_at from pgdispatch.calls
            where idempotency_key like 'schedule:every-second:%' order by id`,
        )
      ).rows;
      const ticks = calls.map((c) => Date.parse(c.key.slice('schedule:every-second:'.length)));
      for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBe(1_000);
      // A call dispatched after the edit carries the new input.
      const after = calls.filter((c) => c.created_at.getTime() > editedAt + 50);
      expect(after.length).toBeGreaterThanOrEqual(1);
      for (const c of after) expect(c.input).toEqual({ n: 2 });
      const row = (await d.schedules.get('every-second'))!;
      expect(row.last_tick?.getTime()).toBe(ticks.at(-1));
    } finally {
      await worker.stop();
      await d.schedules.remove('every-second');
    }
  });
});

describe('pgdispatch schedules', () => {
  const cli = (...args: string[]) => runCli(args, { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });

  it('refuses bad input with a stable code and writes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--cron', '* * *', '--function', 'tick'],
        /invalid cron expression "\* \* \*".*\[INVALID_SCHEDULE\]/,
      ],
      [
        ['--cron', '* * * * *', '--function', 'tick', '--timezone', 'Moon/Base'],
        /unknown time zone.*\[INVALID_SCHEDULE\]/,
      ],
      [
        ['--cron', '* * * * *', '--function', 'tick', '--catch-up=-1'],
        /catchUp must be.*\[INVALID_SCHEDULE\]/,
      ],
      [
        ['--cron', '* * * * *', '--function', 'nope'],
        /unknown function 'nope'.*\[UNKNOWN_FUNCTION\]/,
      ],
      [
        ['--function', 'tick'],
        /a new schedule needs a function and a cron expression.*\[INVALID_OPTION\]/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli('schedules', 'set', 'cli-bad', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    const usageErrors: [string[], RegExp][] = [
      [['schedules', 'frob'], /unknown action "frob"/],
      [['schedules', 'set', 'x', '--input', '{nope'], /--input must be JSON/],
      [['schedules', 'disable'], /needs a schedule name/],
      [
        ['schedules', 'enable', 'x', '--cron', '* * * * *'],
        /--cron is an option of "schedules set"/,
      ],
    ];
    for (const [args, message] of usageErrors) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect(await count('select count(*) as n from pgdispatch.schedules')).toBe(0);
  });

  it('sets, lists, disables, enables and removes a schedule', async () => {
    const set = await cli(
      'schedules',
      'set',
      'cli-daily',
      '--cron',
      '0 3 * * *',
      '--function',
      'tick',
      '--timezone',
      'Europe/Paris',
      '--input',
      '{"kind":"daily"}',
      '--catch-up',
      '2',
    );
    expect(set.stderr).toBe('');
    expect(set.stdout).toMatch(/schedule cli-daily set: 0 3 \* \* \* \(Europe\/Paris\) -> tick/);
    // set on an existing schedule changes only what it names.
    expect((await cli('schedules', 'set', 'cli-daily', '--cron', '0 4 * * *')).code).toBe(0);
    expect(await d.schedules.get('cli-daily')).toMatchObject({
      cron: '0 4 * * *',
      timezone: 'Europe/Paris',
      input: { kind: 'daily' },
      catch_up: 2,
      function: 'tick',
    });
    expect((await cli('schedules', 'disable', 'cli-daily')).stdout).toMatch(
      /schedule cli-daily disabled/,
    );
    const list = await cli('schedules');
    expect(list.stdout).toMatch(/^NAME\s+CRON\s+TIMEZONE/);
    expect(list.stdout).toMatch(/cli-daily\s+0 4 \* \* \*\s+Europe\/Paris\s+tick\s+disabled\s+2/);
    expect((await cli('schedules', 'enable', 'cli-daily')).code).toBe(0);
    const json = JSON.parse((await cli('schedules', '--json')).stdout.trim());
    expect(json).toMatchObject([{ name: 'cli-daily', enabled: true }]);
    expect((await cli('schedules', 'remove', 'cli-daily')).stdout).toMatch(/removed/);
    const gone = await cli('schedules', 'remove', 'cli-daily');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no schedule named "cli-daily" \[UNKNOWN_SCHEDULE\]/);
  });
});
