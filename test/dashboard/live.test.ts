/**
 * The live tail's notifications without a browser: a busy worker announces
 * its attempts a few times a second at most, never once per attempt; the
 * dashboard holds one LISTEN connection however many streams are open, and
 * a stream with a poll too slow to matter still sees each attempt at once.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** The SSE events of a stream, as they come. */
function events(res: Response): { list: { event: string; data: string; id?: string }[]; stop: () => void } {
  const list: { event: string; data: string; id?: string }[] = [];
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) return;
      buf += dec.decode(value, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: { event: string; data: string; id?: string } = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          const [k, ...v] = line.split(': ');
          if (k === 'event') e.event = v.join(': ');
          if (k === 'data') e.data = v.join(': ');
          if (k === 'id') e.id = v.join(': ');
        }
        list.push(e);
      }
    }
  })();
  return { list, stop: () => void reader.cancel().catch(() => undefined) };
}

describe('live tail notifications', () => {
  it('a busy worker notifies at most once per 250 ms, one notification for many attempts', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const heard: number[] = [];
    listener.on('notification', (m) => {
      if (m.channel === 'pgdispatch:attempts') heard.push(Date.now());
    });
    await listener.query('listen "pgdispatch:attempts"');
    const d = db.dispatch();
    const noop = d.func('noop', async () => {
      await new Promise((r) => setTimeout(r, 5));
    });
    await noop.dispatchMany(Array.from({ length: 400 }, (_, i) => ({ i })));
    const started = Date.now();
    const worker = await d.worker({ concurrency: 20, pollIntervalMs: 50 });
    try {
      await eventually(
        async () => Number((await db.pool.query('select count(*) as n from pgdispatch.attempts')).rows[0].n) === 400,
        { timeoutMs: 30_000, message: 'the worker did not record the attempts' },
      );
      // The last groups' notification, sent when its interval ends.
      await new Promise((r) => setTimeout(r, 400));
    } finally {
      await worker.stop();
      await listener.end();
    }
    const elapsed = Date.now() - started;
    expect(heard.length).toBeGreaterThan(0);
    expect(heard.length).toBeLessThan(400 / 4);
    expect(heard.length).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 1);
    // Two notifications are an interval apart when sent, but each arrives at
    // its transaction's commit, so on a loaded machine two can arrive closer
    // together: what holds is the count over any longer window.
    for (let i = 4; i < heard.length; i++) expect(heard[i]! - heard[i - 4]!).toBeGreaterThanOrEqual(500);
  }, 60_000);

  it("a workflow's suspended attempt is announced as a finished one is", async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    let heard = 0;
    listener.on('notification', (m) => {
      if (m.channel === 'pgdispatch:attempts') heard++;
    });
    await listener.query('listen "pgdispatch:attempts"');
    const d = db.dispatch();
    const waits = d.workflow('waits_for_a_signal', async (_input: null, ctx) => {
      await ctx.waitFor('go', { key: 'live-tail-never-sent' });
    });
    const worker = await d.worker({ pollIntervalMs: 50 });
    try {
      const id = await waits.dispatch(null);
      await eventually(async () => (await d.getCall(id))?.status === 'waiting', {
        timeoutMs: 10_000,
        message: 'the workflow did not suspend',
      });
      // The only attempt is the suspension: its group, or the lone
      // notification at the end of the interval, announces it.
      await eventually(async () => heard > 0, {
        timeoutMs: 2_000,
        message: 'no notification for the suspended attempt',
      });
      const { rows } = await db.pool.query(
        `select status from pgdispatch.attempts where call_id = $1`,
        [id],
      );
      expect(rows.map((r) => r.status)).toEqual(['suspended']);
    } finally {
      await worker.stop();
      await listener.end();
    }
  });

  it('the dashboard holds one LISTEN connection for all its streams, and a notification wakes them', async () => {
    const dash = createDashboard({ pool: db.pool, livePollMs: 60_000 });
    const streams = await Promise.all(
      [1, 2, 3].map(async () => events(await dash.fetch(new Request('http://127.0.0.1/live/events')))),
    );
    try {
      await eventually(async () => streams.every((s) => s.list.some((e) => e.event === 'ready')), {
        timeoutMs: 5000,
        message: 'a stream did not start',
      });
      const listening = async () =>
        Number(
          (
            await db.pool.query(
              `select count(*) as n from pg_stat_activity where datname = $1 and query ilike 'listen %'`,
              [db.name],
            )
          ).rows[0].n,
        );
      await eventually(async () => (await listening()) === 1, {
        timeoutMs: 5000,
        message: 'no LISTEN connection',
      });
      // Let the probe settle and the first look end.
      await new Promise((r) => setTimeout(r, 500));
      const d = db.dispatch();
      const noop = d.func('noop', () => undefined);
      const worker = await d.worker({ concurrency: 2, pollIntervalMs: 50 });
      try {
        const id = await noop.dispatch({ live: true });
        const t0 = Date.now();
        await eventually(
          async () =>
            streams.every((s) =>
              s.list.some((e) => e.event === 'attempt' && JSON.parse(e.data).call_id === id),
            ),
          { timeoutMs: 3000, intervalMs: 20, message: 'a stream did not show the attempt' },
        );
        // The poll is a minute away: only the notification can have brought it.
        expect(Date.now() - t0).toBeLessThan(2000);
      } finally {
        await worker.stop();
      }
      expect(await listening()).toBe(1);
    } finally {
      for (const s of streams) s.stop();
      await dash.close();
    }
  }, 30_000);

  it('attempts recorded without a notification (a worker of an older release) show by the poll within 2 s', async () => {
    const dash = createDashboard({ pool: db.pool });
    const stream = events(await dash.fetch(new Request('http://127.0.0.1/live/events')));
    try {
      await eventually(async () => stream.list.some((e) => e.event === 'ready'), { timeoutMs: 5000 });
      // Let the LISTEN connection prove itself: it works, and still nothing is announced.
      await new Promise((r) => setTimeout(r, 500));
      const { rows } = await db.pool.query(`
        insert into pgdispatch.calls (function, input, status, attempts, retry_policy, finished_at)
        values ('silent', '{}', 'succeeded', 1, 'default', now()) returning id::text`);
      const id = rows[0].id as string;
      await db.pool.query(
        `insert into pgdispatch.attempts (call_id, attempt, started_at, finished_at, duration_ms, status, worker)
         values ($1, 1, now(), now(), 3, 'ok', 'old-worker')`,
        [id],
      );
      const t0 = Date.now();
      await eventually(
        async () => stream.list.some((e) => e.event === 'attempt' && JSON.parse(e.data).call_id === id),
        { timeoutMs: 3000, intervalMs: 20, message: 'the poll did not bring the attempt' },
      );
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      stream.stop();
      await dash.close();
    }
  });
});
