/**
 * The CLI for scripts: every command's `--json` output parses and has the
 * shape docs/cli.md gives, failures are JSON on stderr, `help <command>`
 * prints its usage, and the bash completion completes.
 */
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../src/cli/commands/index.js';
import { type Dispatch, PermanentError } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { CLI, OPS_FIXTURE, ROOT, runCli } from './support/processes.js';

let db: TestDatabase;
let dispatch: Dispatch;
let failed: string[] = [];
let ok = '';

async function json(...args: string[]): Promise<unknown> {
  const r = await runCli([...args, '--json'], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
  expect(r.stderr, args.join(' ')).toBe('');
  expect(r.code, args.join(' ')).toBe(0);
  return JSON.parse(r.stdout);
}

const status = async (id: string) =>
  (await db.pool.query('select status from pgdispatch.calls where id = $1', [id])).rows[0]?.status;

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch();
  dispatch.func('deliver', async (input: { fail?: boolean }) => {
    if (input.fail) throw new PermanentError('receiver said no');
    return 'ok';
  });
  await dispatch.migrate();
  ok = (await dispatch.dispatchMany('deliver', [{}]))[0]!;
  failed = await dispatch.dispatchMany('deliver', [{ fail: true }, { fail: true }, { fail: true }]);
  const worker = await dispatch.worker({ concurrency: 4, pollIntervalMs: 100 });
  await eventually(async () => {
    const { rows } = await db.pool.query(
      'select count(*)::int as n from pgdispatch.calls where finished_at is null',
    );
    return rows[0].n === 0;
  });
  await worker.stop();
});

afterAll(async () => {
  await db?.drop();
});

describe('--json', () => {
  it('is in the usage of every command', () => {
    for (const c of Object.values(commands)) expect(c.usage, c.name).toContain('--json');
  });

  it('signal and schedules: an object per change, an array per list', async () => {
    const sent = (await json('signal', 'order:7', '--payload', '{"carrier":"ups"}')) as {
      signal_id: string;
    };
    expect(sent).toMatchObject({ action: 'signal', key: 'order:7' });
    const { rows } = await db.pool.query('select key, payload from pgdispatch.signals where id = $1', [
      sent.signal_id,
    ]);
    expect(rows).toEqual([{ key: 'order:7', payload: { carrier: 'ups' } }]);
    expect(await json('schedules')).toEqual([]);
  });

  it('migrate: what was applied', async () => {
    expect(await json('migrate')).toEqual({ action: 'migrate', schema: 'pgdispatch', applied: [] });
  });

  it('calls, stats, workers, policies: arrays of rows', async () => {
    const calls = (await json('calls')) as { id: string; status: string }[];
    expect(calls.map((c) => c.id).sort()).toEqual([ok, ...failed].sort());
    const stats = (await json('stats')) as { function: string }[];
    expect(stats.map((s) => s.function)).toContain('deliver');
    expect(await json('workers')).toEqual([]);
    const policies = (await json('policies')) as { name: string }[];
    expect(policies.map((p) => p.name)).toContain('default');
  });

  it('show: the call and its timeline', async () => {
    const shown = (await json('show', failed[0]!)) as { call: { id: string }; timeline: unknown[] };
    expect(shown.call.id).toBe(failed[0]);
    expect(shown.timeline.length).toBeGreaterThan(0);
  });

  it('retry and cancel: one call, then by filter', async () => {
    expect(await json('retry', failed[0]!)).toEqual({
      action: 'retry',
      call_id: failed[0],
      matched: 1,
      changed: 1,
    });
    expect(await status(failed[0]!)).toBe('retrying');
    expect(await json('cancel', failed[0]!)).toEqual({
      action: 'cancel',
      call_id: failed[0],
      matched: 1,
      changed: 1,
    });
    expect(await status(failed[0]!)).toBe('cancelled');
    expect(await json('retry', '--status', 'failed')).toEqual({
      action: 'retry',
      matched: 2,
      changed: 2,
    });
    expect(await json('cancel', '--function', 'deliver')).toEqual({
      action: 'cancel',
      matched: 2,
      changed: 2,
    });
    expect(await status(failed[2]!)).toBe('cancelled');
  });

  it('policies set: the policy as stored', async () => {
    expect(await json('policies', 'set', 'quick', '--delays', '1s,2s')).toMatchObject({
      action: 'policies.set',
      policy: { name: 'quick', delays_ms: [1000, 2000] },
    });
  });

  it('endpoints: add, list, rotate, disable, enable, remove', async () => {
    const added = (await json('endpoints', 'add', 'acme', '--url', 'https://acme.example/in')) as {
      action: string;
      endpoint: { name: string; secrets: number };
      secret: string;
    };
    expect(added).toMatchObject({ action: 'endpoints.add', endpoint: { name: 'acme', secrets: 1 } });
    expect(added.secret).toMatch(/^whsec_/);
    const list = (await json('endpoints')) as { name: string; url: string }[];
    expect(list).toMatchObject([{ name: 'acme', url: 'https://acme.example/in' }]);
    const rotated = (await json('endpoints', 'rotate', 'acme')) as { secret: string };
    expect(rotated).toMatchObject({ action: 'endpoints.rotate', name: 'acme' });
    expect(rotated.secret).not.toBe(added.secret);
    expect(await json('endpoints', 'disable', 'acme')).toEqual({
      action: 'endpoints.disable',
      name: 'acme',
      enabled: false,
    });
    expect(await json('endpoints', 'enable', 'acme')).toEqual({
      action: 'endpoints.enable',
      name: 'acme',
      enabled: true,
      replayed: 0,
    });
    expect(await json('endpoints', 'remove', 'acme')).toEqual({
      action: 'endpoints.remove',
      name: 'acme',
      removed: true,
    });
  });

  it('prune: how many calls went', async () => {
    await db.pool.query(
      "update pgdispatch.calls set finished_at = now() - interval '2 days' where id = $1",
      [ok],
    );
    expect(await json('prune', '--older-than', '1d')).toEqual({
      action: 'prune',
      deleted: 1,
      older_than_ms: 86_400_000,
    });
    expect(await status(ok)).toBeUndefined();
  });

  it('worker: a JSON line when started and when stopped', async () => {
    const child = spawn(process.execPath, [CLI, 'worker', '--module', OPS_FIXTURE, '--json'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent', RECEIVER_URL: 'http://127.0.0.1:1/' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const started = JSON.parse((await lines.next()).value as string);
    expect(started).toMatchObject({
      event: 'started',
      pid: child.pid,
      concurrency: 25,
      functions: expect.arrayContaining(['deliver']),
      metrics_port: null,
    });
    const { rows } = await db.pool.query('select id from pgdispatch.workers');
    expect(rows.map((r) => r.id)).toEqual([started.worker_id]);
    child.kill('SIGTERM');
    expect(JSON.parse((await lines.next()).value as string)).toEqual({
      event: 'stopped',
      worker_id: started.worker_id,
    });
    await new Promise((r) => child.once('close', r));
  });

  it('failures: nothing on stdout, {"error"} on stderr, the usual exit codes', async () => {
    const env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
    const missing = await runCli(['show', '999999', '--json'], env);
    expect([missing.code, missing.stdout]).toEqual([1, '']);
    expect(JSON.parse(missing.stderr)).toEqual({
      error: { code: 'CALL_NOT_FOUND', message: 'call 999999 not found' },
    });
    const usage = await runCli(['retry', '--json'], env);
    expect([usage.code, usage.stdout]).toEqual([2, '']);
    expect(JSON.parse(usage.stderr).error.code).toBe('USAGE');
    const gone = await runCli(['retry', '999999', '--json'], env);
    expect(JSON.parse(gone.stderr).error.code).toBe('CALL_NOT_FOUND');
    const done = await runCli(['cancel', failed[0]!, '--json'], env);
    expect([done.code, JSON.parse(done.stderr).error.code]).toEqual([1, 'INVALID_STATE']);
    const down = await runCli(['calls', '--json'], {
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/nothing',
    });
    expect([down.code, down.stdout]).toEqual([1, '']);
    expect(JSON.parse(down.stderr).error.code).toBe('DATABASE_UNAVAILABLE');
  });
});

describe('help and completion', () => {
  it('help <command> prints that command usage', async () => {
    for (const name of Object.keys(commands)) {
      const r = await runCli(['help', name]);
      expect([r.code, r.stdout.trim()]).toEqual([0, commands[name]!.usage]);
    }
    const unknown = await runCli(['help', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "nope"');
  });

  it('bash completion completes commands, flags and statuses', async () => {
    const complete = async (...words: string[]) => {
      const script = `source <("${process.execPath}" "${CLI}" completion bash)
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_pgdispatch; echo "\${COMPREPLY[*]}"`;
      const { stdout } = await promisify(execFile)('bash', ['-c', script]);
      return stdout.trim().split(' ');
    };
    expect(await complete('pgdispatch', 're')).toEqual(['retry']);
    expect(await complete('pgdispatch', 'calls', '--st')).toEqual(['--status']);
    expect(await complete('pgdispatch', 'calls', '--status', 'f')).toEqual(['failed']);
    expect(await complete('pgdispatch', 'endpoints', 'ro')).toEqual(['rotate']);
    expect(await complete('pgdispatch', 'help', 'wo')).toEqual(['worker', 'workers']);
  });

  it('the zsh script declares every command', async () => {
    const r = await runCli(['completion', 'zsh']);
    expect(r.stdout.startsWith('#compdef pgdispatch\n')).toBe(true);
    for (const c of Object.values(commands)) expect(r.stdout).toContain(`'${c.name}:`);
    const bad = await runCli(['completion', 'fish']);
    expect(bad.code).toBe(2);
  });
});
