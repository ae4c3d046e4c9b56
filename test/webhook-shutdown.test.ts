/**
 * A webhook attempt in flight when its worker stops: after the grace period
 * the request is aborted (the receiver sees its connection close), the
 * attempt is released rather than recorded, and the next worker delivers it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Dispatch } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { type Receiver, startReceiver } from './support/receiver.js';

let db: TestDatabase;
let dispatch: Dispatch;
let receiver: Receiver;
let hang = true;
let closedWithoutAnswer = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  // Timeouts far beyond the test: only the worker's shutdown can end the attempt.
  dispatch = db.dispatch({
    webhook: { allow: ['127.0.0.1/32'], timeouts: { headersMs: 60_000, totalMs: 120_000 } },
  });
  await dispatch.migrate();
  receiver = await startReceiver((_req, _n, res) => {
    if (!hang) {
      res.end('ok');
      return;
    }
    res.on('close', () => {
      if (!res.writableEnded) closedWithoutAnswer++;
    });
  });
});

afterAll(async () => {
  await receiver?.close();
  await dispatch?.close();
  await db?.drop();
});

it('stopping a worker aborts its webhook request, releases the attempt, and the next worker delivers', async () => {
  const first = await dispatch.worker({ concurrency: 4, pollIntervalMs: 50, gracePeriodMs: 200 });
  const id = await dispatch.webhook.dispatch({ url: receiver.url, body: { order: 1 } });
  await eventually(async () => receiver.requests.length === 1);

  const t0 = Date.now();
  await first.stop();
  expect(Date.now() - t0).toBeLessThan(5_000);
  await eventually(async () => closedWithoutAnswer === 1, { message: 'request aborted' });
  expect((await dispatch.getHistory(id)).map((h) => h.event)).toEqual(['dispatched', 'released']);
  expect(await dispatch.getAttempts(id)).toEqual([]);

  hang = false;
  const second = await dispatch.worker({ concurrency: 4, pollIntervalMs: 50 });
  try {
    await eventually(async () => (await dispatch.getCall(id))?.status === 'succeeded');
  } finally {
    await second.stop();
  }
  expect(receiver.requests).toHaveLength(2);
  expect(receiver.requests[1]!.headers['webhook-id']).toBe(receiver.requests[0]!.headers['webhook-id']);
  expect((await dispatch.getAttempts(id)).map((a) => [a.attempt, a.status])).toEqual([[1, 'ok']]);
});
