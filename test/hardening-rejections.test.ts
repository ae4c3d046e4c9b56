/**
 * A handler's stray rejected promise does not end `pgdispatch worker`: it
 * is logged with the call it most likely came from, and the worker keeps
 * running the calls that follow.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { CLI, ROOT } from './support/processes.js';

let db: TestDatabase;
let out = '';
let exited: Promise<number | string>;
let child: ReturnType<typeof spawn>;

beforeAll(async () => {
  db = await createTestDatabase();
  child = spawn(
    process.execPath,
    [CLI, 'worker', '--module', 'test/fixtures/stray-rejection.mjs', '--poll-interval', '100'],
    {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1)),
  );
  await eventually(async () => out.includes('started'), { timeoutMs: 15_000, message: out });
});
afterAll(async () => {
  child?.kill('SIGTERM');
  await exited;
  await db?.drop();
});

const dispatchSql = async (input: unknown) =>
  String(
    (await db.pool.query(`select pgdispatch.dispatch('stray', $1) as id`, [JSON.stringify(input)]))
      .rows[0].id,
  );

const succeeded = (id: string) =>
  eventually(
    async () =>
      (
        await db.pool.query(
          `select 1 from pgdispatch.calls where id = $1 and status = 'succeeded'`,
          [id],
        )
      ).rowCount,
    { timeoutMs: 8_000, message: `call ${id} succeeded; worker output:\n${out}` },
  );

describe('pgdispatch worker and unhandled rejections', () => {
  it('a rejection during an attempt is logged with its call, and the worker runs on', async () => {
    const id = await dispatchSql({ during: true });
    await succeeded(id);
    expect(out).toMatch(
      new RegExp(
        `unhandled promise rejection most likely from stray #${id}, the only attempt running: stray rejection during the attempt`,
      ),
    );
    const next = await dispatchSql({});
    await succeeded(next);
  });

  it('a rejection after the attempt names the last call to finish', async () => {
    const id = await dispatchSql({ after: true });
    await succeeded(id);
    await eventually(async () => out.includes('stray rejection after the attempt'), {
      timeoutMs: 5_000,
      message: out,
    });
    expect(out).toMatch(new RegExp(`most likely from stray #${id}, the last to finish`));
    const next = await dispatchSql({});
    await succeeded(next);
    expect(child.exitCode).toBeNull();
  });
});
