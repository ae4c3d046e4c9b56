/** "Why hasn't call 42 run?": each waiting state answers in one query, in the history and in `pgdispatch show`. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatch } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { runCli } from './support/processes.js';

let db: TestDatabase;
let d: Dispatch;

beforeAll(async () => {
  db = await createTestDatabase();
  d = db.dispatch();
  d.func('job', () => null);
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
});
