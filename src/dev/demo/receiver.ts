/**
 * The demo's webhook receiver: the other company's server. It verifies each
 * delivery's Standard Webhooks signature, pretends to be down for the first
 * deliveries of each message (HTTP 500), then accepts.
 *
 *   DEMO_WEBHOOK_SECRET  the shared secret (whsec_…)
 *   RECEIVER_PORT        where to listen on 127.0.0.1 (default 3001)
 *   RECEIVER_FAIL_FIRST  deliveries of each message answered 500 (default 2)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pino } from 'pino';
import { verifyWebhook, WebhookVerificationError } from '../../index.js';

const log = pino({ name: 'receiver', level: process.env['LOG_LEVEL'] ?? 'info' });
const secret = process.env['DEMO_WEBHOOK_SECRET'];
const port = Number(process.env['RECEIVER_PORT'] ?? 3001);
const failFirst = Number(process.env['RECEIVER_FAIL_FIRST'] ?? 2);
/** Deliveries seen per webhook-id: the id is the call's, the same on every retry. */
const seen = new Map<string, number>();

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  const id = String(req.headers['webhook-id'] ?? 'unknown');
  const n = (seen.get(id) ?? 0) + 1;
  seen.set(id, n);

  let event: { type?: string; data?: { orderId?: string } };
  try {
    // Throws unless the signature matches the secret and the timestamp is recent.
    event = (secret ? verifyWebhook(secret, req.headers, body) : JSON.parse(body)) as typeof event;
  } catch (err) {
    const reason = err instanceof WebhookVerificationError ? err.code : (err as Error).message;
    log.error(
      { webhookId: id, reason },
      `${id} delivery ${n}: rejected (${reason}): answering 401`,
    );
    res.writeHead(401).end('bad signature');
    return;
  }
  const checked = secret ? 'signature verified' : 'unsigned (no DEMO_WEBHOOK_SECRET)';
  if (n <= failFirst) {
    log.warn(
      { webhookId: id, delivery: n },
      `${id} delivery ${n}: ${checked}, but answering 500 (pretending to be down)`,
    );
    res.writeHead(500, { 'content-type': 'text/plain' }).end('temporarily unavailable');
    return;
  }
  log.info(
    { webhookId: id, delivery: n, type: event.type },
    `${id} delivery ${n}: ${checked}; ${event.type} for order ${event.data?.orderId} accepted (200)`,
  );
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    log.error({ err }, 'receiver failed');
    res.writeHead(500).end();
  });
});
server.listen(port, process.env['HOST'] ?? '127.0.0.1', () => {
  log.info(
    { port },
    `listening on http://127.0.0.1:${port}/webhooks; the first ${failFirst} deliveries of each webhook get a 500`,
  );
});
const stop = () => {
  server.closeAllConnections();
  server.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
