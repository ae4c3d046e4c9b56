/**
 * docs/schedules.md runs: its ts blocks (one module, type-checked by the
 * run's transform) and sql blocks, in page order, against a fresh database.
 * The module's top-level code runs before the sql blocks that follow it, so
 * the sql blocks read what the module wrote.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { markdownExamples } from './support/markdown.js';

const PAGE = new URL('../docs/schedules.md', import.meta.url);
const TMP = new URL('./.docs-schedules-tmp/', import.meta.url);
const examples = markdownExamples(readFileSync(PAGE, 'utf8'), 'docs/schedules.md');
let db: TestDatabase;
let instance: { close?: () => Promise<void> } | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  process.env['DATABASE_URL'] = db.url;
  process.env['LOG_LEVEL'] ??= 'error';
  await mkdir(TMP, { recursive: true });
});
afterAll(async () => {
  await instance?.close?.();
  await rm(TMP, { recursive: true, force: true });
  await db?.drop();
});

describe('docs/schedules.md', () => {
  it('has examples of both kinds', () => {
    expect(examples.filter((e) => e.kind === 'ts')).toHaveLength(1);
    expect(examples.filter((e) => e.kind === 'sql').length).toBeGreaterThanOrEqual(5);
  });

  it('has a ts module that type-checks (strict)', async () => {
    const file = fileURLToPath(new URL('typecheck.ts', TMP));
    await writeFile(
      file,
      `${examples.find((e) => e.kind === 'ts')!.code}\nexport default dispatch;\n`,
    );
    const program = ts.createProgram([file], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts'],
      types: ['node'],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      paths: { pgdispatch: [fileURLToPath(new URL('../src/index.ts', import.meta.url))] },
    });
    const errors = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName === file)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(errors).toEqual([]);
  });

  for (const [i, e] of examples.entries()) {
    it(`runs the ${e.kind} block at line ${e.line}`, async () => {
      if (e.kind === 'sql') {
        await db.pool.query(e.code);
        return;
      }
      const file = fileURLToPath(new URL(`block-${i}.ts`, TMP));
      // The module's dispatch instance, exported so the test can close its pool.
      await writeFile(file, `${e.code}\nexport default dispatch;\n`);
      const mod = (await import(pathToFileURL(file).href)) as { default?: typeof instance };
      instance = mod.default;
    });
  }

  it('left the rows the page describes', async () => {
    const { rows } = await db.pool.query(
      `select name, cron, timezone, catch_up, error from pgdispatch.schedules order by name`,
    );
    expect(rows).toEqual([
      { name: 'hourly-report', cron: '@hourly', timezone: 'UTC', catch_up: 0, error: null },
      {
        name: 'nightly-report',
        cron: '30 3 * * *',
        timezone: 'Europe/Paris',
        catch_up: 1,
        error: null,
      },
    ]);
    const debounced = await db.pool.query(
      `select c.input from pgdispatch.calls c where c.function = 'rebuild_index'`,
    );
    expect(debounced.rows).toEqual([{ input: { reason: 'edit 3' } }]);
  });
});
