/**
 * Adaptive concurrency per destination, across two worker processes. The
 * receiver answers 503 whenever more than `capacity` requests are in
 * flight. With a fixed limit of 20 per worker most requests get a 503; with
 * the adaptive limit the workers settle near the capacity (5) together, the
 * share of 503s falls well below, and the limit rises again once the
 * receiver takes 20 at a time.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { runCli, spawnWorker, type WorkerProcess } from './support/processes.js';

let db: TestDatabase;
const workers: WorkerProcess[] = [];
const servers: { close(): void }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  // Quick retries, enough of them that every call ends delivered.
  await db.pool.query(`insert into pgdispatch.retry_policies (name, delays, max_attempts)
                       values ('fast', array[interval '20 milliseconds'], 1000)`);
});
afterEach(() => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
});
afterAll(async () => {
  for (const s of servers) s.close();
  await db.drop();
});

/** A receiver that takes `capacity` requests at a time, 40 ms each, and answers 503 beyond. */
async function receiver() {
  const r = { capacity: 5, inFlight: 0, ok: 0, unavailable: 0, url: '' };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      r.inFlight++;
      if (r.inFlight > r.capacity) {
        r.inFlight--;
        r.unavailable++;
        res.statusCode = 503;
        res.end();
        return;
      }
      setTimeout(() => {
        r.inFlight--;
        r.ok++;
        res.end('ok');
      }, 40);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => server.close() });
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return r;
}

function startWorkers(adaptive: boolean): void {
  for (let i = 0; i < 2; i++) {
    workers.push(
      spawnWorker(
        [
          '--module',
          'test/fixtures/webhook-adaptive.mjs',
          '--concurrency',
          '30',
          '--retention',
          'off',
          '--schedules',
          'off',
        ],
        { DATABASE_URL: db.url, LOG_LEVEL: 'error', ADAPTIVE: adaptive ? '1' : '0' },
      ),
    );
  }
}

async function stopWorkers(): Promise<void> {
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.splice(0).map((w) => w.exited));
}

async function deliver(n: number, input: Record<string, unknown>): Promise<void> {
  await db.pool.query(`select pgdispatch.dispatch_many('webhook', $1::jsonb)`, [
    JSON.stringify(Array.from({ length: n }, (_, i) => ({ ...input, body: { i } }))),
  ]);
}

const undelivered = async () =>
  Number(
    (await db.pool.query(`select count(*) as n from pgdispatch.calls where status <> 'succeeded'`))
      .rows[0].n,
  );

describe('adaptive concurrency per destination', () => {
  it('settles near what the receiver takes, with far fewer 503s than a fixed limit, and rises again', async () => {
    await db.pool.query(
      `insert into pgdispatch.functions (name, retry_policy) values ('webhook', 'fast')`,
    );

    // A fixed limit: 20 per worker.
    const fixed = await receiver();
    startWorkers(false);
    await deliver(300, { url: `${fixed.url}/hook` });
    await eventually(async () => (await undelivered()) === 0, {
      message: 'fixed: all delivered',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await stopWorkers();
    const fixedShare = fixed.unavailable / (fixed.ok + fixed.unavailable);

    // Adaptive, to an endpoint (so the limit shows per endpoint).
    const adaptive = await receiver();
    await db.pool.query(
      `insert into pgdispatch.endpoints (name, url, retry_policy) values ('flaky', $1, 'fast')`,
      [`${adaptive.url}/hook`],
    );
    startWorkers(true);
    await deliver(300, { endpoint: 'flaky' });
    // The limit while the backlog lasts (at its tail, with fewer calls than
    // the limit left, nothing pushes back and it rises freely).
    const samples: number[] = [];
    await eventually(
      async () => {
        const left = await undelivered();
        if (left > 60) {
          const { rows } = await db.pool.query(
            'select concurrency_limit from pgdispatch.endpoint_concurrency',
          );
          if (rows[0]) samples.push(rows[0].concurrency_limit);
        }
        return left === 0;
      },
      { message: 'adaptive: all delivered', timeoutMs: 60_000, intervalMs: 100 },
    );
    samples.sort((a, b) => a - b);
    const median = samples[Math.floor(samples.length / 2)]!;
    const adaptiveShare = adaptive.unavailable / (adaptive.ok + adaptive.unavailable);
    const settled = (
      await db.pool.query(
        `select concurrency_limit, max_limit, decreases::int from pgdispatch.endpoint_concurrency where endpoint = 'flaky'`,
      )
    ).rows[0];
    console.log(
      `503 share: fixed ${(fixedShare * 100).toFixed(1)} %, adaptive ${(adaptiveShare * 100).toFixed(1)} %; limit under load: median ${median} of [${samples.join(',')}]`,
    );
    // Relative bounds: on a busy machine the receiver answers later, more
    // requests overlap, and both shares rise together.
    expect(fixedShare).toBeGreaterThan(0.5);
    expect(adaptiveShare).toBeLessThan(fixedShare / 3);
    expect(samples.length).toBeGreaterThanOrEqual(5);
    expect(median).toBeGreaterThanOrEqual(2);
    expect(median).toBeLessThanOrEqual(7);
    expect(settled.max_limit).toBe(20);
    expect(settled.decreases).toBeGreaterThan(0);

    // The receiver takes 20 at a time now: the limit climbs back.
    adaptive.capacity = 20;
    const raisedFrom = new Date();
    await deliver(600, { endpoint: 'flaky' });
    await eventually(async () => (await undelivered()) === 0, {
      message: 'all delivered again',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await stopWorkers();
    const rose = (
      await db.pool.query(
        `select max(to_limit) as top from pgdispatch.origin_concurrency_changes where at > $1`,
        [raisedFrom],
      )
    ).rows[0];
    expect(rose.top).toBeGreaterThanOrEqual(12);

    const cli = await runCli(['endpoints'], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
    expect(cli.stdout).toMatch(/ADAPTIVE LIMIT/);
    expect(cli.stdout).toMatch(/flaky .*\d+\/20/);
  });
});
