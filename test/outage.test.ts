/**
 * Postgres restarted under load, on an embedded server this file owns: the
 * worker process (never restarted) logs the outage, reconnects and carries
 * on; no call is lost and none is recorded twice.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/dev/embedded.js';
import { createDispatch, type Dispatch } from '../src/index.js';
import { eventually } from './support/db.js';
import {
  type CountingReceiver,
  freePort,
  spawnWorker,
  startCountingReceiver,
  type WorkerProcess,
} from './support/processes.js';

const CALLS = 1_000;
const DOWN_MS = 3_000;

let dir: string;
let port: number;
let server: EmbeddedPostgres | undefined;
let pool: pg.Pool;
let dispatch: Dispatch;
let receiver: CountingReceiver;
let worker: WorkerProcess | undefined;

const start = () => startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port, name: 'test' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgd-outage-'));
  // The server runs as an unprivileged user, which must reach the folder.
  await chmod(dir, 0o755);
  port = await freePort();
  server = await start();
  dispatch = createDispatch({ connectionString: server.url, logger: pino({ level: 'silent' }) });
  await dispatch.migrate();
  pool = new pg.Pool({ connectionString: server.url, max: 2 });
  pool.on('error', () => undefined);
  await pool.query(
    `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('fast', '{200ms}', 20)`,
  );
  dispatch.func('deliver', () => undefined, { retryPolicy: 'fast' });
  receiver = await startCountingReceiver(undefined, 10);
}, 60_000);

afterAll(async () => {
  worker?.child.kill('SIGKILL');
  await worker?.exited;
  await receiver?.close();
  await pool?.end().catch(() => undefined);
  await dispatch?.close().catch(() => undefined);
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

const count = async (sql: string) =>
  Number((await pool.query<{ n: string }>(`select count(*) as n from (${sql}) q`)).rows[0]!.n);

it('a worker survives a Postgres restart: no call lost, none recorded twice', async () => {
  worker = spawnWorker(
    ['--concurrency', '20', '--heartbeat-interval', '500ms', '--rescue-after', '5s'],
    {
      DATABASE_URL: server!.url,
      RECEIVER_URL: receiver.url,
      RETRY_POLICY: 'fast',
    },
  );
  const pid = worker.child.pid;
  await eventually(async () => (await count('select 1 from pgdispatch.workers')) === 1, {
    timeoutMs: 15_000,
    message: 'worker registered',
  });
  await dispatch.dispatchMany(
    'deliver',
    Array.from({ length: CALLS }, (_, n) => ({ n })),
  );
  await eventually(
    async () =>
      (await count(`select 1 from pgdispatch.calls where status = 'succeeded'`)) >= CALLS / 5,
    {
      timeoutMs: 30_000,
      intervalMs: 10,
    },
  );

  const before = await count(`select 1 from pgdispatch.calls where status = 'succeeded'`);
  expect(before).toBeLessThan(CALLS);
  const downAt = Date.now();
  await server!.stop();
  const hitsWhileDown = receiver.hits.length;
  await new Promise((r) => setTimeout(r, DOWN_MS));
  server = await start();
  const upAt = Date.now();

  await eventually(
    async () =>
      (await count(`select 1 from pgdispatch.calls where status = 'succeeded'`).catch(() => 0)) ===
      CALLS,
    {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: `all calls succeeded after the restart\n${worker.output().slice(-3000)}`,
    },
  );
  const doneAt = Date.now();

  // The same process did it all.
  expect(worker.child.exitCode).toBe(null);
  expect(worker.child.pid).toBe(pid);
  // No call lost, none recorded twice: one attempt each, one row each.
  expect(
    await count(`select 1 from pgdispatch.calls where status = 'succeeded' and attempts = 1`),
  ).toBe(CALLS);
  expect(await count('select 1 from pgdispatch.attempts')).toBe(CALLS);
  expect(await count('select 1 from graphile_worker._private_jobs')).toBe(0);
  const perCall = new Map<string, number>();
  for (const h of receiver.hits) perCall.set(h.callId, (perCall.get(h.callId) ?? 0) + 1);
  expect(perCall.size).toBe(CALLS);
  const twice = [...perCall.values()].filter((n) => n > 1).length;

  // The worker said what happened, and its heartbeat carries on.
  const out = worker.output();
  expect(out).toMatch(/database unreachable/);
  expect(out).not.toMatch(/"level":(50|60).*uncaught/i);
  await eventually(
    async () => {
      const r = await pool.query<{ age: number }>(
        `select extract(epoch from now() - heartbeat_at)::float8 as age from pgdispatch.workers`,
      );
      return r.rows.length === 1 && r.rows[0]!.age < 2;
    },
    { timeoutMs: 10_000, message: 'heartbeat resumed' },
  );

  console.log(
    `outage: ${before} of ${CALLS} succeeded before the stop; database down ${upAt - downAt} ms ` +
      `(${receiver.hits.length - hitsWhileDown} deliveries after the stop began); all done ${doneAt - upAt} ms after it came back; ` +
      `${twice} call(s) delivered twice`,
  );
}, 120_000);
