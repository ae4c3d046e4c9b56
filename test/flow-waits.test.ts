/** "Why hasn't call 42 run?": each waiting state answers in one query, in the history and in `pgdispatch show`. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dispatch, TemporaryError } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { runCli } from './support/processes.js';

let db: TestDatabase;
let d: Dispatch;
const spans: { n: number; attempt: number; start: number; end: number }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  d = db.dispatch();
  d.func('job', () => null);
  d.func(
    'flaky',
    async (input: { n: number }, ctx) => {
      spans.push({ n: input.n, attempt: ctx.attempt, start: Date.now(), end: 0 });
      const span = spans.at(-1)!;
      await new Promise((r) => setTimeout(r, 30));
      span.end = Date.now();
      if (ctx.attempt === 1 && input.n === 0) throw new TemporaryError('first attempt fails');
      return null;
    },
    { retryPolicy: 'quick', concurrency: { key: 'serial:flaky', limit: 1 } },
  );
  await db.pool.query(
    `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('quick', '{200ms}', 5)`,
  );
  await d.migrate();
});
afterAll(() => db.drop());

const waitOf = async (id: string) =>
  (
    await db.pool.query(
      'select reason, key, detail from pgdispatch.call_waits where call_id = $1',
      [id],
    )
  ).rows;

describe('call_waits', () => {
  it('names the concurrency slot, the rate limit or the debounce a call waits for', async () => {
    const serial = { key: 'tenant:7', limit: 1 };
    const [first, second, third] = [
      await d.dispatch('job', 1, { concurrency: serial }),
      await d.dispatch('job', 2, { concurrency: serial }),
      await d.dispatch('job', 3, { concurrency: serial }),
    ];
    expect(await waitOf(first)).toEqual([]);
    expect(await waitOf(second)).toEqual([
      {
        reason: 'concurrency',
        key: 'tenant:7',
        detail: 'waiting for a concurrency slot of tenant:7: 1 of 1 running, 0 waiting ahead of it',
      },
    ]);
    expect((await waitOf(third))[0].detail).toMatch(/1 waiting ahead of it/);
    const history = (
      await db.pool.query(
        `select event, detail from pgdispatch.call_history where call_id = $1 order by at`,
        [second],
      )
    ).rows;
    expect(history).toContainEqual({
      event: 'waiting',
      detail: 'for a concurrency slot of tenant:7 (limit 1) by dispatch',
    });

    const rate = { key: 'api:slow', limit: 1, intervalMs: 10_000 };
    await d.dispatch('job', 'a', { rateLimit: rate });
    const later = await d.dispatch('job', 'b', { rateLimit: rate });
    expect(await waitOf(later)).toEqual([
      {
        reason: 'rate',
        key: 'api:slow',
        detail: expect.stringMatching(/^rate limit of api:slow \(1 per 00:00:10\): starts at /),
      },
    ]);

    const debounced = await d.dispatch('job', 'x', {
      debounce: { key: 'rebuild', delayMs: 60_000 },
    });
    expect(await waitOf(debounced)).toEqual([
      {
        reason: 'debounce',
        key: 'rebuild',
        detail: expect.stringMatching(/^debounced on rebuild: 1 dispatch\(es\) so far; runs at /),
      },
    ]);

    const show = await runCli(['show', second], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
    expect(show.stderr).toBe('');
    expect(show.stdout).toMatch(
      /waiting\s+waiting for a concurrency slot of tenant:7: 1 of 1 running/,
    );
    expect(show.stdout).toMatch(
      /waiting\s+pending\s+for a concurrency slot of tenant:7 \(limit 1\)/,
    );

    // A cancelled waiter is no longer waiting.
    await d.cancel(third);
    expect(await waitOf(third)).toEqual([]);
  });

  it('a keyed call that fails gives its slot back and waits again for one, and for its retry time', async () => {
    const ids = [];
    for (let n = 0; n < 3; n++) ids.push(await d.dispatch('flaky', { n }));
    const worker = await d.worker({ concurrency: 10, retention: false, schedules: false });
    try {
      await eventually(
        async () =>
          Number(
            (
              await db.pool.query(
                `select count(*) as n from pgdispatch.calls where function = 'flaky' and status = 'succeeded'`,
              )
            ).rows[0].n,
          ) === 3,
        { message: 'all three succeeded' },
      );
    } finally {
      await worker.stop();
    }
    // Serial throughout, the retry included, and the retry waited its 200 ms.
    const sorted = [...spans].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++)
      expect(sorted[i]!.start).toBeGreaterThanOrEqual(sorted[i - 1]!.end);
    const first = spans.filter((s) => s.n === 0);
    expect(first.map((s) => s.attempt)).toEqual([1, 2]);
    expect(first[1]!.start - first[0]!.end).toBeGreaterThanOrEqual(190);
    expect(
      (await db.pool.query("select count(*)::int as n from pgdispatch.flow_slots where key = 'serial:flaky'")).rows[0].n,
    ).toBe(0);
  });
});
