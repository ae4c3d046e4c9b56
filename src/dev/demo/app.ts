/**
 * The demo's application server: `POST /orders` inserts an order and
 * dispatches its webhook in the same transaction, so a rolled-back order
 * never sends a webhook and a committed one always does.
 *
 *   DATABASE_URL  the database (required)
 *   PORT, HOST    where to listen (default 3000 on 127.0.0.1)
 *   WEBHOOK_URL   where order webhooks go (default http://127.0.0.1:3001/webhooks)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Generated, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import dispatch from './functions.js';

interface DemoDatabase {
  'pgdispatch_demo.orders': {
    id: Generated<string>;
    item: string;
    quantity: number;
    created_at: Generated<Date>;
  };
}

const log = pino({ name: 'app', level: process.env['LOG_LEVEL'] ?? 'info' });
const port = Number(process.env['PORT'] ?? 3000);
const host = process.env['HOST'] ?? '127.0.0.1';
const webhookUrl = process.env['WEBHOOK_URL'] ?? 'http://127.0.0.1:3001/webhooks';

const db = new Kysely<DemoDatabase>({
  dialect: new PostgresDialect({
    pool: new pg.Pool({ connectionString: process.env['DATABASE_URL'], max: 5 }),
  }),
});

/** The part worth reading: the order and its webhook commit (or roll back) together. */
async function createOrder(item: string, quantity: number) {
  return db.transaction().execute(async (tx) => {
    const order = await tx
      .insertInto('pgdispatch_demo.orders')
      .values({ item, quantity })
      .returningAll()
      .executeTakeFirstOrThrow();
    const callId = await dispatch.webhook.dispatch(
      { url: webhookUrl, eventType: 'order.created', body: { orderId: order.id, item, quantity } },
      { tx },
    );
    return { order, webhookCallId: callId };
  });
}

function usage(base: string): string {
  return `pgdispatch demo app

Create an order; its webhook is dispatched in the same transaction:

  curl -X POST ${base}/orders -H 'content-type: application/json' -d '{"item":"tea","quantity":3}'

The answer carries the webhook's call id. Its attempts, in SQL:

  select attempt, status, http_status, round(duration_ms) as ms, error
    from pgdispatch.attempts where call_id = <id> order by attempt;

or: DATABASE_URL=... npx pgdispatch show <id>
`;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  const value: unknown = JSON.parse(text);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
  return value as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
  });
  res.end(text);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method === 'GET' && path === '/') {
    return send(res, 200, usage(`http://${req.headers.host ?? `${host}:${port}`}`));
  }
  if (req.method === 'POST' && path === '/orders') {
    let input: Record<string, unknown>;
    try {
      input = await readJson(req);
    } catch {
      return send(res, 400, {
        error: 'the body must be a JSON object: {"item":"tea","quantity":3}',
      });
    }
    const item = input['item'] ?? 'coffee beans';
    const quantity = input['quantity'] ?? 1;
    if (typeof item !== 'string' || !Number.isInteger(quantity) || (quantity as number) < 1) {
      return send(res, 400, { error: 'item must be a string and quantity a positive integer' });
    }
    const result = await createOrder(item, quantity as number);
    log.info(
      { orderId: result.order.id, callId: result.webhookCallId },
      `order ${result.order.id} created; its webhook is call ${result.webhookCallId}, committed in the same transaction`,
    );
    return send(res, 201, result);
  }
  return send(res, 404, usage(`http://${req.headers.host ?? `${host}:${port}`}`));
}

async function main(): Promise<void> {
  await sql`create schema if not exists pgdispatch_demo`.execute(db);
  await sql`create table if not exists pgdispatch_demo.orders (
    id bigint primary key generated always as identity,
    item text not null,
    quantity integer not null,
    created_at timestamptz not null default now()
  )`.execute(db);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) send(res, 500, { error: (err as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  log.info(
    { port, webhookUrl },
    `listening on http://${host}:${port}; orders' webhooks go to ${webhookUrl}`,
  );

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await db.destroy();
    await dispatch.close();
  };
  process.once('SIGINT', (s) => void stop(s));
  process.once('SIGTERM', (s) => void stop(s));
}

main().catch((err: unknown) => {
  log.fatal({ err }, `app failed to start: ${(err as Error).message}`);
  process.exitCode = 1;
  void db.destroy();
  void dispatch.close();
});
