/**
 * A receiver answering with oversized headers: the attempt is an
 * invalid_response with a record of what came back, not a permanent_error
 * with nothing stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatch, WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { type Receiver, startReceiver } from './support/receiver.js';

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle;
let receiver: Receiver;

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startReceiver((req, _n, res) => {
    const size = Number(req.path.slice(1));
    res.setHeader('x-request-id', 'r-1');
    res.setHeader('x-big', 'a'.repeat(size));
    res.end('fine');
  });
  dispatch = db.dispatch({ webhook: { allowPrivateNetworks: true } });
  worker = await dispatch.worker({ pollIntervalMs: 100 });
});
afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await db?.drop();
});

async function attemptOf(id: string) {
  return eventually(
    async () =>
      (
        await db.pool.query(
          `select a.status, a.http_status, a.error, a.response, c.status as call_status
             from pgdispatch.attempts a join pgdispatch.calls c on c.id = a.call_id
            where a.call_id = $1`,
          [id],
        )
      ).rows[0],
    { timeoutMs: 10_000, message: `an attempt of call ${id}` },
  );
}

describe('oversized response headers', () => {
  it('100 KB of headers: invalid_response, with the status and the kept headers recorded', async () => {
    const a = await attemptOf(
      await dispatch.webhook.dispatch({ url: `${receiver.url}/100000`, body: 1 }),
    );
    expect(a).toMatchObject({
      status: 'invalid_response',
      call_status: 'failed',
      http_status: 200,
    });
    expect(a.error).toMatch(/^response headers of \d+ bytes, over the limit of 16384/);
    expect(a.response).toMatchObject({
      status: 200,
      truncated: true,
      headers: { 'x-request-id': 'r-1' },
    });
  });

  it('headers too large to read at all: invalid_response too', async () => {
    const a = await attemptOf(
      await dispatch.webhook.dispatch({ url: `${receiver.url}/400000`, body: 1 }),
    );
    expect(a).toMatchObject({ status: 'invalid_response', call_status: 'failed' });
    expect(a.error).toMatch(/header/i);
  });

  it('headers under the limit are a normal response', async () => {
    const a = await attemptOf(
      await dispatch.webhook.dispatch({ url: `${receiver.url}/1000`, body: 1 }),
    );
    expect(a).toMatchObject({ status: 'ok', http_status: 200 });
  });
});

describe('a URL with credentials', () => {
  it('is refused with its password redacted by the shared rule', async () => {
    const id = await dispatch.webhook.dispatch({
      url: 'https://user:PASS99@example.com/in',
      body: 1,
    });
    const a = await attemptOf(id);
    expect(a.status).toBe('invalid_argument');
    expect(a.error).toContain('https://user:[redacted]@example.com/in');
    expect(a.error).not.toContain('PASS99');
  });
});
