#!/usr/bin/env node
/**
 * `npm start`: the retry story, then the same order as a workflow, in a few
 * seconds, with nothing to set up.
 *
 * A database (embedded Postgres, or DATABASE_URL), the schema, a short retry
 * policy, then three processes: the app (app.ts), a worker (`pgdispatch
 * worker`) and a receiver (receiver.ts) that fails the first deliveries. It
 * places an order, follows its webhook through the failures and retries to
 * the success, prints the SQL that shows it, then keeps running until Ctrl-C.
 *
 *   --once, DEMO_EXIT_AFTER_STORY=1   exit after the story (tests)
 *   DEMO_LOG_FORMAT=pretty|json       default: pretty in a terminal, JSON when piped
 */
import { createServer } from 'node:net';
import { relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { createDispatch } from '../../index.js';
import { generateSecret } from '../../webhook/sign.js';
import { ensureDatabase } from '../embedded.js';
import { type Child, startChild, stopChildren } from './children.js';
import { chooseFormat, Output, table } from './output.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const here = (file: string) => relative(ROOT, fileURLToPath(new URL(file, import.meta.url)));
const ONCE = process.argv.includes('--once') || process.env['DEMO_EXIT_AFTER_STORY'] === '1';
const STORY_TIMEOUT_MS = 60_000;
const FAIL_FIRST = 2;

/** The demo's policy: waits of 1s, 2s, 4s instead of the webhook policy's 5s, 5m, 30m... */
const DEMO_POLICY_SQL = `
insert into pgdispatch.retry_policies (name, delays, jitter, max_attempts, description)
values ('demo', array[interval '1 second', interval '2 seconds', interval '4 seconds'], 0, 5,
        'npm start demo: 1s, 2s, 4s')
on conflict (name) do update
   set delays = excluded.delays, base = null, factor = null, cap = null,
       jitter = excluded.jitter, max_attempts = excluded.max_attempts, updated_at = now()`;

const output = new Output(chooseFormat());
const log = pino(
  { name: 'demo', level: process.env['LOG_LEVEL'] ?? 'info' },
  output.stream('demo'),
);

const children: Child[] = [];
let pool: pg.Pool | undefined;
let database: { stop(): Promise<void> } | undefined;
let stopping: Promise<void> | undefined;

async function main(): Promise<void> {
  const db = await ensureDatabase({ name: 'demo', logger: { info: (m) => log.info(m) } });
  database = db;
  log.info(
    db.embedded
      ? `database: embedded Postgres at ${redact(db.url)} (set DATABASE_URL to use your own)`
      : `database: DATABASE_URL ${redact(db.url)}`,
  );

  // Quiet: one line below sums the migrations up.
  const dispatch = createDispatch({
    connectionString: db.url,
    logger: log.child({}, { level: 'warn' }),
    maxPoolSize: 2,
  });
  try {
    const { applied } = await dispatch.migrate();
    log.info(applied.length > 0 ? `schema created: ${applied.join(', ')}` : 'schema up to date');
  } finally {
    await dispatch.close();
  }
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await pool.query(DEMO_POLICY_SQL);
  log.info(
    `retry policy 'demo': wait 1s, 2s, then 4s between attempts (the 'webhook' policy waits 5s, 5m, 30m, 2h...)`,
  );

  const appPort = await choosePort(Number(process.env['PORT'] ?? 3000));
  const receiverPort = await choosePort(Number(process.env['RECEIVER_PORT'] ?? 3001));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: db.url,
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    DEMO_WEBHOOK_SECRET: generateSecret(),
    DEMO_RETRY_POLICY: 'demo',
    PORT: String(appPort),
    HOST: '127.0.0.1',
    WEBHOOK_URL: `http://127.0.0.1:${receiverPort}/webhooks`,
    RECEIVER_PORT: String(receiverPort),
    RECEIVER_FAIL_FIRST: String(FAIL_FIRST),
  };
  const start = (name: string, args: string[]) => {
    const child = startChild(name, args, { cwd: ROOT, env, output });
    children.push(child);
    void child.exited.then((how) => {
      if (stopping) return;
      log.error(`${name} exited (${how}) unexpectedly: stopping the demo`);
      void shutdown(1);
    });
    return child;
  };
  const isListening = (r: Record<string, unknown>) => String(r['msg']).startsWith('listening on');
  const receiver = start('receiver', [here('./receiver.js')]);
  const worker = start('worker', [
    here('../../cli/main.js'),
    'worker',
    '--module',
    here('./functions.js'),
    '--concurrency',
    '10',
  ]);
  const app = start('app', [here('./app.js')]);
  await Promise.all([
    receiver.waitFor(isListening, 20_000),
    app.waitFor(isListening, 20_000),
    worker.waitFor((r) => /^worker .* started/.test(String(r['msg'])), 20_000),
  ]);
  log.info(
    { pids: Object.fromEntries(children.map((c) => [c.name, c.process.pid])) },
    `started app (pid ${app.process.pid}), worker (pid ${worker.process.pid}) and receiver (pid ${receiver.process.pid})`,
  );

  const base = `http://127.0.0.1:${appPort}`;
  log.info(`placing a first order: POST ${base}/orders {"item":"coffee beans","quantity":2}`);
  const res = await fetch(`${base}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ item: 'coffee beans', quantity: 2 }),
  });
  if (res.status !== 201)
    throw new Error(`POST /orders answered ${res.status}: ${await res.text()}`);
  const { order, webhookCallId: callId } = (await res.json()) as {
    order: { id: string };
    webhookCallId: string;
  };
  log.info(
    `order ${order.id} committed together with its webhook, call ${callId}; the receiver answers its first ${FAIL_FIRST} deliveries with 500, so watch the worker retry`,
  );

  const finished = worker.waitFor(
    (r) =>
      String(r['callId']) === callId &&
      ['succeeded', 'failed', 'cancelled'].includes(String(r['callStatus'])),
    STORY_TIMEOUT_MS,
  );
  const status = await waitFinished(callId);
  await Promise.race([finished, sleep(1_000)]).catch(() => undefined);
  await showAttempts(callId, status);
  const flowStatus = await workflowStory(order.id, String(env['WEBHOOK_URL']));

  if (ONCE) {
    await shutdown(status === 'succeeded' && flowStatus === 'succeeded' ? 0 : 1);
    return;
  }
  output.block(
    [
      '',
      `The demo keeps running. Place more orders (each one's webhook gets ${FAIL_FIRST} 500s, then succeeds):`,
      '',
      `  curl -X POST ${base}/orders -H 'content-type: application/json' -d '{"item":"tea","quantity":3}'`,
      '',
      db.embedded
        ? `Query the database:  psql '${db.url}'`
        : 'Query the database:  psql "$DATABASE_URL"',
      'Ctrl-C stops the processes and the database.',
      '',
    ].join('\n'),
  );
  log.info(
    { url: base, databaseUrl: redact(db.url) },
    `running; POST ${base}/orders for more, Ctrl-C to stop`,
  );
}

async function waitFinished(callId: string): Promise<string> {
  const deadline = Date.now() + STORY_TIMEOUT_MS;
  for (;;) {
    const { rows } = await pool!.query<{ status: string }>(
      'select status from pgdispatch.calls where id = $1',
      [callId],
    );
    const status = rows[0]?.status;
    if (status && ['succeeded', 'failed', 'cancelled'].includes(status)) return status;
    if (Date.now() > deadline) throw new Error(`call ${callId} still ${status} after 60 s`);
    await sleep(100);
  }
}

async function showAttempts(callId: string, status: string): Promise<void> {
  const sql = `select attempt, status, http_status, round(duration_ms) as ms, error, finished_at
  from pgdispatch.attempts where call_id = ${Number(callId)} order by attempt;`;
  const { rows } = await pool!.query<Record<string, unknown>>(sql.replace(/;$/, ''));
  for (const row of rows) row['ms'] = Number(row['ms']);
  const text = table(rows);
  log.info(
    { callId, callStatus: status, sql, rows },
    `call ${callId} ${status} after ${rows.length} attempts: its attempts, in SQL`,
  );
  output.block(['', `  ${sql.replace('\n', '\n  ')}`, '', text, ''].join('\n'));
}

/** The same order as a workflow: its steps, its wait for a signal, the signal, its rows. */
async function workflowStory(orderId: string, webhookUrl: string): Promise<string> {
  const { rows } = await pool!.query<{ id: string }>(
    `select pgdispatch.dispatch('order_flow', $1::jsonb)::text as id`,
    [JSON.stringify({ orderId, webhookUrl })],
  );
  const id = rows[0]!.id;
  log.info(
    { callId: id },
    `order ${orderId} as a workflow, call ${id}: charge, the order.paid webhook awaited, then a wait for the warehouse's 'shipped' signal`,
  );
  const deadline = Date.now() + STORY_TIMEOUT_MS;
  for (;;) {
    const { rowCount } = await pool!.query(
      `select 1 from pgdispatch.steps where call_id = $1 and kind = 'wait' and status = 'waiting'`,
      [id],
    );
    if (rowCount) break;
    if (Date.now() > deadline) throw new Error(`workflow call ${id} never reached its wait`);
    await sleep(100);
  }
  const signal = `select pgdispatch.signal('order:${Number(orderId)}', '{"carrier": "ups"}');`;
  log.info(
    { callId: id, sql: signal },
    `call ${id} is waiting and holds no worker slot; the warehouse ships the order: ${signal}`,
  );
  await pool!.query(signal);
  const status = await waitFinished(id);
  const sql = `select seq, kind, name, status, attempts, child_call_id as child
  from pgdispatch.steps where call_id = ${Number(id)} order by seq;`;
  const { rows: steps } = await pool!.query<Record<string, unknown>>(sql.replace(/;$/, ''));
  log.info(
    { callId: id, callStatus: status, sql, rows: steps },
    `workflow call ${id} ${status} after ${steps.length} steps: its steps, in SQL`,
  );
  output.block(['', `  ${sql.replace('\n', '\n  ')}`, '', table(steps), ''].join('\n'));
  return status;
}

/** The preferred port when free, else any free one. */
async function choosePort(preferred: number): Promise<number> {
  const listen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        server.close(() =>
          resolve(typeof address === 'object' && address ? address.port : undefined),
        );
      });
    });
  return (await listen(preferred)) ?? (await listen(0))!;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

function shutdown(code: number): Promise<void> {
  stopping ??= (async () => {
    log.info('stopping: app, worker, receiver, then the database');
    await stopChildren(children, 15_000);
    await pool?.end();
    await database?.stop();
    log.info('stopped; no process left behind');
    process.exitCode = code;
  })();
  return stopping;
}

let signals = 0;
const onSignal = (signal: NodeJS.Signals) => {
  signals++;
  if (signals > 1) {
    for (const c of children) c.process.kill('SIGKILL');
    return;
  }
  log.info(`${signal} received`);
  void shutdown(0);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

main().catch(async (err: unknown) => {
  log.error({ err }, `demo failed: ${(err as Error).message}`);
  await shutdown(1);
});
