import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Dispatch, generateSecret, type WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { type Receiver, startReceiver } from './support/receiver.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
const secret = generateSecret();
const receivers: Receiver[] = [];
// Every log line the worker writes, to check what they say and what they never say.
const logLines: string[] = [];
const logStream = new Writable({
  write(chunk, _enc, done) {
    logLines.push(...String(chunk).split('\n').filter(Boolean));
    done();
  },
});

beforeAll(async () => {
  db = await createTestDatabase();
  // Tests send to 127.0.0.1, which the guard refuses by default: allow exactly that.
  dispatch = db.dispatch({
    logger: pino({ level: 'info' }, logStream),
    webhook: { secret, allow: ['127.0.0.1/32'], timeouts: { headersMs: 500, totalMs: 2_000 } },
  });
  await dispatch.migrate();
  // The webhook schedule, shortened: 100 ms between attempts, Retry-After honoured up to 5 s.
  await db.pool.query(
    `update pgdispatch.retry_policies set delays = array[interval '100 ms', interval '100 ms', interval '5 s'], jitter = 0 where name = 'webhook'`,
  );
  worker = await dispatch.worker({ concurrency: 16, pollIntervalMs: 50 });
});
afterAll(async () => {
  await worker?.stop();
  await Promise.all(receivers.map((r) => r.close()));
  await db.drop();
});

async function receiver(respond?: Parameters<typeof startReceiver>[0]) {
  const r = await startReceiver(respond);
  receivers.push(r);
  return r;
}

const finished = (id: string) =>
  eventually(async () => {
    const c = await dispatch.getCall(id);
    return c && ['succeeded', 'failed', 'cancelled'].includes(c.status) ? c : undefined;
  });

describe('the webhook function', () => {
  it('500, 500, 200: three signed requests with one webhook-id, verified by standardwebhooks', async () => {
    const r = await receiver((_req, n, res) => {
      res.statusCode = n <= 2 ? 500 : 200;
      res.end(n <= 2 ? 'down' : 'thanks');
    });
    const id = await dispatch.webhook.dispatch({ url: `${r.url}/hooks`, body: { order: 42 } });
    const call = await finished(id);
    expect(call).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(r.requests).toHaveLength(3);
    const wh = new Webhook(secret);
    for (const req of r.requests) {
      expect(req.headers['webhook-id']).toBe(`msg_${id}`);
      expect(req.headers['content-type']).toBe('application/json');
      expect(wh.verify(req.body, req.headers as Record<string, string>)).toEqual({ order: 42 });
    }
    const attempts = await dispatch.getAttempts(id);
    expect(attempts.map((a) => [a.status, a.http_status])).toEqual([
      ['temporary_error', 500],
      ['temporary_error', 500],
      ['ok', 200],
    ]);
    expect(attempts[0]!.response).toMatchObject({ status: 500, body: 'down', truncated: false });
    expect(JSON.stringify(attempts)).not.toContain(secret.slice(6));
  });

  it('logs one line per attempt, with status, http status and next attempt, and never a secret', async () => {
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['function'] === 'webhook');
    const retry = lines.find((l) => l['status'] === 'temporary_error');
    expect(retry).toMatchObject({ httpStatus: 500, attempt: 1, callStatus: 'retrying', level: 40 });
    expect(retry!['nextAttemptAt']).toBeTruthy();
    expect(retry!['msg']).toMatch(/^webhook #\d+ attempt 1: temporary_error \(HTTP 500, \d+ ms\); retrying at /);
    expect(lines.find((l) => l['status'] === 'ok')!['msg']).toMatch(/call succeeded$/);
    const all = logLines.join('\n');
    expect(all).not.toContain(secret);
    expect(all).not.toContain(secret.slice('whsec_'.length));
  });

  it('429 with Retry-After delays the next attempt', async () => {
    const r = await receiver((_req, n, res) => {
      if (n === 1) {
        res.writeHead(429, { 'retry-after': '2' });
        res.end();
      } else res.end();
    });
    const id = await dispatch.webhook.dispatch({ url: r.url, body: 'hi' });
    await finished(id);
    const [a, b] = await dispatch.getAttempts(id);
    expect(a!.status).toBe('throttled');
    expect(b!.status).toBe('ok');
    expect(r.requests[1]!.at - r.requests[0]!.at).toBeGreaterThanOrEqual(1_900);
  });

  it('never answering, resetting, redirecting, 404: the right outcomes, in bounded time', async () => {
    const hang = await receiver(() => new Promise(() => undefined));
    const reset = await receiver((_req, _n, res) => {
      res.socket?.destroy();
    });
    const redirect = await receiver((_req, _n, res) => {
      res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' });
      res.end();
    });
    const missing = await receiver((_req, _n, res) => {
      res.statusCode = 404;
      res.end();
    });
    const t0 = Date.now();
    const ids = await Promise.all(
      [hang, reset, redirect, missing].map((r) => dispatch.webhook.dispatch({ url: r.url, body: {} }, { maxAttempts: 2 })),
    );
    const calls = await Promise.all(ids.map(finished));
    expect(Date.now() - t0).toBeLessThan(10_000);
    const outcomes = await Promise.all(ids.map(async (id) => (await dispatch.getAttempts(id)).map((a) => a.status)));
    expect(outcomes).toEqual([['timeout', 'timeout'], ['tcp_error', 'tcp_error'], ['permanent_error'], ['not_found']]);
    expect(calls.map((c) => c.status)).toEqual(['failed', 'failed', 'failed', 'failed']);
    expect(redirect.requests).toHaveLength(1);
  });

  it('a 100 MB body is truncated, not read', async () => {
    const big = await receiver((_req, _n, res) => {
      res.writeHead(200, { 'content-length': String(100 * 1024 * 1024) });
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const write = () => {
        while (res.write(chunk)) {
          /* until the socket pushes back */
        }
      };
      res.on('drain', write);
      res.on('error', () => undefined);
      write();
    });
    const t0 = Date.now();
    const id = await dispatch.webhook.dispatch({ url: big.url, body: {} });
    const call = await finished(id);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(call.status).toBe('succeeded');
    const [a] = await dispatch.getAttempts(id);
    expect(a!.response).toMatchObject({ truncated: true });
    expect((a!.response as { body: string }).body.length).toBe(16_384);
  });

  it('refuses 127.0.0.1 and names resolving to it by default, with no packet sent', async () => {
    // Its own database, so no permissive worker can take these calls.
    const other = await createTestDatabase();
    const strict = other.dispatch();
    const r = await receiver();
    const w = await strict.worker({ concurrency: 2, pollIntervalMs: 50 });
    try {
      const port = new URL(r.url).port;
      for (const url of [r.url, `http://localhost:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`]) {
        const id = await strict.webhook.dispatch({ url, body: {} });
        await eventually(async () => (await strict.getCall(id))?.status === 'failed');
        const [a] = await strict.getAttempts(id);
        expect(a).toMatchObject({ status: 'invalid_argument', attempt: 1 });
        expect(a!.error).toMatch(/127\.0\.0\.1|loopback/);
      }
      expect(r.requests).toHaveLength(0);
    } finally {
      await w.stop();
      await other.drop();
    }
  });
});

describe('endpoints', () => {
  it('signs with the endpoint secret, honours its retry policy, 410 disables it', async () => {
    const r = await receiver((_req, n, res) => {
      res.statusCode = n === 1 ? 200 : 410;
      res.end();
    });
    const e = await dispatch.endpoints.add({ name: 'shop', url: `${r.url}/in`, allowPrivateNetworks: true });
    expect(e.secrets[0]).toMatch(/^whsec_/);
    const first = await dispatch.webhook.dispatch({ endpoint: 'shop', body: { n: 1 }, eventType: 'order.paid' });
    expect(await finished(first)).toMatchObject({ status: 'succeeded', retry_policy: 'webhook' });
    expect(new Webhook(e.secrets[0]!).verify(r.requests[0]!.body, r.requests[0]!.headers as Record<string, string>)).toEqual({
      type: 'order.paid',
      data: { n: 1 },
    });
    const gone = await dispatch.webhook.dispatch({ endpoint: 'shop', body: { n: 2 } });
    expect(await finished(gone)).toMatchObject({ status: 'failed' });
    const after = await dispatch.endpoints.get('shop');
    expect(after).toMatchObject({ enabled: false, disabled_reason: 'the endpoint answered 410 Gone' });

    // While disabled, calls fail fast without a request.
    await new Promise((res) => setTimeout(res, 2_100)); // endpoint cache
    const blocked = await dispatch.webhook.dispatch({ endpoint: 'shop', body: { n: 3 } });
    const call = await finished(blocked);
    expect(call.last_error).toMatch(/endpoint shop is disabled/);
    expect(r.requests).toHaveLength(2);
  });

  it('rotation signs with both secrets; enable --replay brings failed calls back', async () => {
    const r = await receiver();
    const e = await dispatch.endpoints.add({ name: 'crm', url: r.url, allowPrivateNetworks: true });
    const old = e.secrets[0]!;
    const fresh = await dispatch.endpoints.rotateSecret('crm');
    await dispatch.endpoints.disable('crm', 'maintenance');
    const id = await dispatch.webhook.dispatch({ endpoint: 'crm', body: { x: 1 } });
    expect(await finished(id)).toMatchObject({ status: 'failed' });
    expect(await dispatch.endpoints.enable('crm', { replay: true })).toBe(1);
    const call = await eventually(async () => {
      const c = await dispatch.getCall(id);
      return c?.status === 'succeeded' ? c : undefined;
    });
    expect(call.attempts).toBe(2);
    const req = r.requests[0]!;
    expect(String(req.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const s of [old, fresh]) expect(new Webhook(s).verify(req.body, req.headers as Record<string, string>)).toEqual({ x: 1 });
  });

  it("a call to an endpoint takes the endpoint's retry policy, dispatched alone or in a batch", async () => {
    const r = await receiver();
    await db.pool.query(
      `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('acme_policy', array[interval '1 s'], 3)`,
    );
    await dispatch.endpoints.add({ name: 'acme-policy', url: r.url, retryPolicy: 'acme_policy', allowPrivateNetworks: true });
    const one = await dispatch.webhook.dispatch({ endpoint: 'acme-policy', body: { n: 1 } });
    const many = await dispatch.webhook.dispatchMany([
      { endpoint: 'acme-policy', body: { n: 2 } },
      { url: r.url, body: { n: 3 } },
    ]);
    const chosen = await dispatch.webhook.dispatchMany([{ endpoint: 'acme-policy', body: { n: 4 } }], {
      retryPolicy: 'webhook',
    });
    const { rows } = await db.pool.query<{ id: string; retry_policy: string }>(
      'select id::text, retry_policy from pgdispatch.calls where id = any($1::bigint[]) order by id',
      [[one, ...many, ...chosen]],
    );
    expect(rows.map((c) => c.retry_policy)).toEqual(['acme_policy', 'acme_policy', 'webhook', 'webhook']);
  });

  it('an endpoint failing continuously for its disable_after period is disabled', async () => {
    const r = await receiver((_req, _n, res) => {
      res.statusCode = 503;
      res.end();
    });
    await dispatch.endpoints.add({ name: 'flaky', url: r.url, allowPrivateNetworks: true, disableAfter: '300 ms' });
    await db.pool.query(
      `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('every200ms', array[interval '200 ms'], 20)`,
    );
    const id = await dispatch.webhook.dispatch({ endpoint: 'flaky', body: {} }, { retryPolicy: 'every200ms' });
    const call = await finished(id);
    expect(call.status).toBe('failed');
    const e = await dispatch.endpoints.get('flaky');
    expect(e).toMatchObject({ enabled: false });
    expect(e!.disabled_reason).toMatch(/failing continuously since/);
    expect(call.attempts).toBeGreaterThanOrEqual(3);
    expect(call.attempts).toBeLessThan(20);
  });

  it('an endpoint already failing is reported about once a second, not on every failed attempt', async () => {
    const r = await receiver((_req, _n, res) => {
      res.statusCode = 503;
      res.end();
    });
    await dispatch.endpoints.add({ name: 'down', url: r.url, allowPrivateNetworks: true });
    await db.pool.query(
      `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('every50ms', array[interval '50 ms'], 10)`,
    );
    const reports = vi.spyOn(dispatch.endpoints, 'attempted');
    try {
      const t0 = Date.now();
      const ids = await Promise.all(
        [1, 2, 3, 4].map((n) => dispatch.webhook.dispatch({ endpoint: 'down', body: { n } }, { retryPolicy: 'every50ms' })),
      );
      const calls = await Promise.all(ids.map(finished));
      const seconds = (Date.now() - t0) / 1000;
      expect(calls.map((c) => c.status)).toEqual(['failed', 'failed', 'failed', 'failed']);
      expect(r.requests).toHaveLength(40);
      // The first failures find the endpoint healthy and report; then at most one a second.
      expect(reports.mock.calls.length).toBeLessThanOrEqual(4 + Math.ceil(seconds) + 1);
      expect(reports.mock.calls.every(([name, ok]) => name === 'down' && ok === false)).toBe(true);
      const e = await dispatch.endpoints.get('down');
      expect(e).toMatchObject({ enabled: true });
      expect(e!.failing_since).not.toBeNull();
    } finally {
      reports.mockRestore();
    }
  });

  it('refuses a malformed webhook input at dispatch', async () => {
    await expect(dispatch.webhook.dispatch({ body: {} })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(dispatch.webhook.dispatch({ url: 'ftp://x', body: {} })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(dispatch.webhook.dispatch({ url: 'http://a', endpoint: 'b', body: {} })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('per-destination fairness', () => {
  it('a slow endpoint does not delay deliveries to a fast one beyond its own share', async () => {
    // Requests the slow receiver holds at once, counted in its handler: a
    // client cannot send the next one on a slot before this end() answers.
    let holding = 0;
    let maxInFlight = 0;
    const slow = await receiver(async (_req, _n, res) => {
      maxInFlight = Math.max(maxInFlight, ++holding);
      await new Promise((r) => setTimeout(r, 400)); // under this file's 500 ms headers timeout
      holding--;
      res.end();
    });
    const fast = await receiver();
    // 40 calls to the slow origin first: 10 at a time (the per-origin limit) take 1.6 s.
    const slowIds = await dispatch.webhook.dispatchMany(Array.from({ length: 40 }, () => ({ url: slow.url, body: {} })));
    await eventually(async () => slow.requests.length >= 10);
    const t0 = Date.now();
    const fastIds = await dispatch.webhook.dispatchMany(Array.from({ length: 20 }, () => ({ url: fast.url, body: {} })));
    await eventually(async () => fast.requests.length >= 20, { intervalMs: 10 });
    // The worker has 16 slots; the slow origin may hold 10 of them, never all:
    // the fast calls, dispatched later, are all delivered before the slow
    // backlog (four rounds of 400 ms) drains, and within one slow round or so.
    await eventually(async () => slow.requests.length >= 40);
    expect(fast.requests.at(-1)!.at).toBeLessThan(slow.requests.at(-1)!.at);
    expect(fast.requests.at(-1)!.at - t0).toBeLessThan(1_200);
    expect(maxInFlight).toBeLessThanOrEqual(10);
    const calls = await Promise.all([...slowIds, ...fastIds].map(finished));
    expect(calls.map((c) => c.status)).toEqual(calls.map(() => 'succeeded'));
    // Waiting for a slot is not an attempt: no attempt row says so.
    const { rows } = await db.pool.query(
      `select count(*)::int as n from pgdispatch.attempts
        where call_id = any($1::bigint[]) and error like '%concurrency limit%'`,
      [slowIds],
    );
    expect(rows[0].n).toBe(0);
  });
});
