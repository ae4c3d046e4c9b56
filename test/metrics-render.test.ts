/**
 * An in-process worker's metrics on the application's own endpoint: the
 * app's /metrics serves its metrics and the worker's `metrics()`, and the
 * counters there agree with the attempts recorded in Postgres.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, PROMETHEUS_CONTENT_TYPE, type WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let worker: WorkerHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  const dispatch = db.dispatch();
  dispatch.func('charge', (input: { ok: boolean }) => {
    if (!input.ok) throw new PermanentError('card declined');
    return 'charged';
  });
  worker = await dispatch.worker({ concurrency: 4, pollIntervalMs: 100 });
  await dispatch.dispatchMany('charge', [{ ok: true }, { ok: true }, { ok: true }, { ok: false }]);
  await eventually(async () => {
    const { rows } = await db.pool.query('select count(*)::int as n from pgdispatch.attempts');
    return rows[0].n === 4;
  });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

describe('WorkerHandle.metrics()', () => {
  it("joins the app's own /metrics endpoint, counting what Postgres recorded", async () => {
    const app = createServer(async (_req, res) => {
      const own = '# TYPE app_requests_total counter\napp_requests_total 7\n';
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
      res.end(own + (await worker.metrics()));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(app.address() as AddressInfo).port}/metrics`);
      expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
      const text = await res.text();
      expect(text).toMatch(/^app_requests_total 7$/m);
      const { rows } = await db.pool.query<{ status: string; n: number }>(
        'select status, count(*)::int as n from pgdispatch.attempts group by status',
      );
      expect(rows.length).toBe(2);
      for (const { status, n } of rows) {
        expect(text).toContain(`pgdispatch_attempts_total{function="charge",outcome="${status}"} ${n}\n`);
      }
      expect(text).toMatch(/^pgdispatch_attempt_duration_seconds_count\{function="charge"\} 4$/m);
      expect(text).toMatch(/^pgdispatch_database_up 1$/m);
      // Every sample line is `name{labels} value`: the exposition stays parseable.
      for (const line of text.trimEnd().split('\n')) {
        expect(line).toMatch(/^(# (HELP|TYPE) .+|[a-z_]+(\{[^}]*\})? [0-9.e+-]+)$/);
      }
    } finally {
      await new Promise((r) => app.close(r));
    }
  });
});
