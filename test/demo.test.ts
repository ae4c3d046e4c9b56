/**
 * `npm start`'s story end to end: the demo (from dist/) against a fresh
 * database, told to exit after the story. It must show the failures, the
 * retries, the success and the attempts' SQL result, exit 0 and leave no
 * process behind.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Output, table } from '../src/dev/demo/output.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAIN = 'dist/dev/demo/main.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        DEMO_EXIT_AFTER_STORY: '1',
        DEMO_LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

type Line = Record<string, unknown> & { process: string; msg: string };
let story: Line[] = [];

describe('npm start (the demo)', () => {
  it('tells the retry story as JSON lines when piped, then exits 0 leaving no process', async () => {
    const run = await runDemo();
    const context = `${run.stdout}\n${run.stderr}`;
    expect(run.code, context).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    story = lines;
    const from = (proc: string) => lines.filter((l) => l.process === proc);

    const pids = from('demo').find((l) => l['pids'])?.['pids'] as Record<string, number>;
    expect(Object.keys(pids).sort()).toEqual(['app', 'receiver', 'worker']);
    for (const pid of Object.values(pids)) expect(alive(pid), `pid ${pid} still runs`).toBe(false);

    const order = from('app').find((l) => /order \d+ created/.test(l.msg));
    const callId = String(order?.['callId']);
    expect(order, context).toBeDefined();

    // The receiver fails twice (signature verified each time), then accepts.
    const received = from('receiver').filter((l) => l['webhookId'] === `msg_${callId}`);
    expect(received.map((l) => l['delivery'])).toEqual([1, 2, 3]);
    expect(received.every((l) => l.msg.includes('signature verified'))).toBe(true);
    expect(received[0]!.msg).toContain('answering 500');
    expect(received[2]!.msg).toContain('accepted (200)');

    // The worker records each failure, schedules the retry, then the success.
    const attempts = from('worker').filter((l) => l['callId'] === callId && l['status']);
    expect(
      attempts.map((l) => [l['attempt'], l['status'], l['httpStatus'], l['callStatus']]),
    ).toEqual([
      [1, 'temporary_error', 500, 'retrying'],
      [2, 'temporary_error', 500, 'retrying'],
      [3, 'ok', 200, 'succeeded'],
    ]);
    expect(attempts[0]!.msg).toMatch(/retrying at /);
    expect(attempts[0]!['nextAttemptAt']).toBeTruthy();

    // The story ends with the SQL to run and its result.
    const result = from('demo').find((l) => l['sql']);
    expect(result?.['sql']).toMatch(/from pgdispatch\.attempts where call_id = \d+/);
    const rows = result?.['rows'] as { attempt: number; status: string; http_status: number }[];
    expect(rows.map((r) => [r.attempt, r.status, r.http_status])).toEqual([
      [1, 'temporary_error', 500],
      [2, 'temporary_error', 500],
      [3, 'ok', 200],
    ]);
    expect(from('demo').at(-1)?.msg).toContain('stopped');

    // Then the order as a workflow: it waits for the signal the demo sends, and its steps show.
    const flow = from('demo').find((l) => /^workflow call \d+ succeeded/.test(l.msg));
    const flowSteps = flow?.['rows'] as { kind: string; name: string; status: string }[];
    expect(flowSteps?.map((s) => `${s.kind} ${s.name} ${s.status}`)).toEqual([
      'step charge succeeded',
      'call webhook succeeded',
      'wait shipped succeeded',
      'sleep cool-off succeeded',
      'step thank-you succeeded',
    ]);
    expect(from('worker').some((l) => /suspended, waiting for signal order:/.test(l.msg))).toBe(true);

    // The rows are really there, next to the order.
    const call = await db.pool.query(
      'select status, attempts, retry_policy from pgdispatch.calls where id = $1',
      [callId],
    );
    expect(call.rows[0]).toEqual({ status: 'succeeded', attempts: 3, retry_policy: 'demo' });
    const orders = await db.pool.query('select item, quantity from pgdispatch_demo.orders');
    expect(orders.rows).toContainEqual({ item: 'coffee beans', quantity: 2 });
    const workers = await db.pool.query('select count(*)::int as n from pgdispatch.workers');
    expect(workers.rows[0].n).toBe(0);
  });

  it('prints those lines for a person in a terminal: prefixed, and the attempts as a table', () => {
    // The same records as above through the terminal formatter (a second run would double the time).
    let out = '';
    const output = new Output('pretty', (text) => {
      out += text;
    });
    for (const line of story) output.line(line.process, JSON.stringify(line));
    const result = story.find((l) => l['sql'])!;
    output.block(`${result['sql']}\n\n${table(result['rows'] as Record<string, unknown>[])}`);
    expect(out).toMatch(/^receiver +│ .*WARN.*answering 500/m);
    expect(out).toMatch(/^worker +│ .*attempt 1: temporary_error \(HTTP 500.*retrying at/m);
    expect(out).toMatch(/^worker +│ .*attempt 3: ok \(HTTP 200.*call succeeded/m);
    expect(out).toMatch(/^demo +│ .*from pgdispatch\.attempts where call_id =/m);
    expect(out).toMatch(/attempt \| status +\| http_status/);
    expect(out).toMatch(/ +1 \| temporary_error \| +500 \|/);
    expect(out).toMatch(/ +3 \| ok +\| +200 \|/);
    expect(out).toContain('(3 rows)');
    expect(out).not.toContain('{"level"');
  });
});
