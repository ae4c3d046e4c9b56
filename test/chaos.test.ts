/**
 * A receiver that fails, hangs and resets at random: every call ends in the
 * state its policy dictates and every attempt is recorded, as the receiver
 * saw it. The worker's metrics count the same attempts.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dispatch, TemporaryError, PermanentError } from '../src/index.js';
import type { WorkerHandle } from '../src/worker/start.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { type CountingReceiver, startCountingReceiver } from './support/processes.js';

const CALLS = 300;
const MAX_ATTEMPTS = 4;
const TIMEOUT_MS = 1_000;
type Behaviour = 'ok' | 'error500' | 'error400' | 'hang' | 'reset';
const EXPECTED: Record<Behaviour, string> = {
  ok: 'ok',
  error500: 'temporary_error',
  error400: 'permanent_error',
  hang: 'timeout',
  reset: 'temporary_error',
};

let db: TestDatabase;
let dispatch: Dispatch;
let receiver: CountingReceiver;
let worker: WorkerHandle | undefined;
const behaviour = new Map<string, Behaviour>(); // `${callId}:${attempt}`

function pick(): Behaviour {
  const r = Math.random();
  if (r < 0.4) return 'ok';
  if (r < 0.6) return 'error500';
  if (r < 0.67) return 'error400';
  if (r < 0.82) return 'hang';
  return 'reset';
}

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    `insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('chaos', '{20ms}', $1)`,
    [MAX_ATTEMPTS],
  );
  receiver = await startCountingReceiver(async (hit, _req, res) => {
    const b = pick();
    behaviour.set(`${hit.callId}:${hit.attempt}`, b);
    if (b === 'ok') res.end('ok');
    else if (b === 'error500') res.writeHead(500).end('boom');
    else if (b === 'error400') res.writeHead(400).end('bad');
    else if (b === 'reset') res.socket?.destroy();
    // 'hang': never answer; the attempt's time limit ends it.
  });
  dispatch = db.dispatch();
  dispatch.func(
    'deliver',
    async (_input: unknown, ctx) => {
      let res: Response;
      try {
        res = await fetch(receiver.url, {
          method: 'POST',
          body: JSON.stringify({ callId: ctx.callId, attempt: ctx.attempt }),
          signal: ctx.signal,
        });
        await res.arrayBuffer();
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        throw new TemporaryError(`receiver unreachable: ${(err as Error).message}`);
      }
      ctx.report({ httpStatus: res.status });
      if (res.status === 400) throw new PermanentError('receiver rejected the call');
      if (!res.ok) throw new TemporaryError(`receiver answered ${res.status}`);
      return 'delivered';
    },
    { retryPolicy: 'chaos', timeoutMs: TIMEOUT_MS },
  );
  await dispatch.migrate();
});

afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await db?.drop();
});

it('every call ends as its policy dictates, every attempt recorded', async () => {
  worker = await dispatch.worker({
    concurrency: 30,
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    pollIntervalMs: 100,
  });
  const started = Date.now();
  await dispatch.dispatchMany(
    'deliver',
    Array.from({ length: CALLS }, (_, n) => n),
  );
  await eventually(
    async () =>
      Number(
        (
          await db.pool.query(
            `select count(*) as n from pgdispatch.calls where finished_at is null`,
          )
        ).rows[0].n,
      ) === 0,
    { timeoutMs: 45_000, intervalMs: 100, message: 'every call finished' },
  );
  const elapsed = Date.now() - started;

  const attempts = (
    await db.pool.query<{ call_id: string; attempt: number; status: string; duration_ms: number }>(
      'select call_id::text, attempt, status, duration_ms from pgdispatch.attempts order by call_id, attempt',
    )
  ).rows;
  // Every request the receiver saw is an attempt row, with the outcome it caused.
  expect(attempts.length).toBe(receiver.hits.length);
  for (const a of attempts) {
    const b = behaviour.get(`${a.call_id}:${a.attempt}`);
    expect(b, `call ${a.call_id} attempt ${a.attempt}`).toBeDefined();
    // On a starved machine an answer can arrive after the time limit: then
    // the attempt truly was a timeout, and its duration says so.
    const late = a.status === 'timeout' && a.duration_ms >= TIMEOUT_MS - 5;
    if (!late) expect(a.status, `call ${a.call_id} attempt ${a.attempt} (${b})`).toBe(EXPECTED[b!]);
  }

  const calls = (
    await db.pool.query<{ id: string; status: string; attempts: number; gave_up: boolean }>(
      `select c.id::text, c.status, c.attempts,
              exists (select from pgdispatch.call_events e where e.call_id = c.id and e.event = 'gave_up') as gave_up
         from pgdispatch.calls c`,
    )
  ).rows;
  const byCall = new Map<string, string[]>();
  for (const a of attempts) byCall.set(a.call_id, [...(byCall.get(a.call_id) ?? []), a.status]);
  const tally: Record<string, number> = {};
  for (const c of calls) {
    const seq = byCall.get(c.id) ?? [];
    expect(seq.length, `call ${c.id}`).toBe(c.attempts);
    const last = seq[seq.length - 1];
    let expected: string;
    if (last === 'ok') expected = 'succeeded';
    else if (last === 'permanent_error') expected = 'failed';
    else {
      expect(seq.length, `call ${c.id} stopped retrying early: ${seq.join(',')}`).toBe(
        MAX_ATTEMPTS,
      );
      expect(c.gave_up).toBe(true);
      expected = 'failed';
    }
    // Nothing after a success or a permanent error; retries only after retryable outcomes.
    for (const s of seq.slice(0, -1)) expect(['temporary_error', 'timeout']).toContain(s);
    expect(c.status, `call ${c.id}: ${seq.join(',')}`).toBe(expected);
    const key = `${c.status}${c.gave_up ? ' (gave up)' : ''}`;
    tally[key] = (tally[key] ?? 0) + 1;
  }

  // The worker's metrics count the same attempts.
  const metrics = await get(worker.metricsPort!, '/metrics');
  expect(metrics.status).toBe(200);
  let counted = 0;
  for (const m of metrics.body.matchAll(
    /^pgdispatch_attempts_total\{function="deliver",outcome="(\w+)"\} (\d+)$/gm,
  )) {
    counted += Number(m[2]);
  }
  expect(counted).toBe(attempts.length);
  expect(metrics.body).toMatch(
    /^pgdispatch_attempt_duration_seconds_count\{function="deliver"\} \d+$/m,
  );
  expect(metrics.body).toMatch(/^pgdispatch_calls_waiting 0$/m);
  expect(metrics.body).toMatch(/^pgdispatch_oldest_waiting_call_age_seconds 0$/m);
  expect(metrics.body).toMatch(/^pgdispatch_rescued_workers_total 0$/m);
  expect((await get(worker.metricsPort!, '/healthz')).status).toBe(200);

  const counts: Record<string, number> = {};
  for (const b of behaviour.values()) counts[b] = (counts[b] ?? 0) + 1;
  console.log(
    `chaos: ${CALLS} calls, ${attempts.length} attempts in ${elapsed} ms; receiver did ${JSON.stringify(counts)}; calls ended ${JSON.stringify(tally)}`,
  );
}, 60_000);

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}
