/**
 * docs/recipes.md: the Express and Fastify recipes run as modules against a
 * fresh database (their "Try it" halves assert what the page claims), after
 * type-checking. The NestJS and Next.js ones are `no-run`.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { docSteps, docTypeErrors } from './support/doc-blocks.js';

const PAGE = 'docs/recipes.md';
const TMP = new URL('./.recipes-tmp/', import.meta.url);
const steps = docSteps(readFileSync(new URL(`../${PAGE}`, import.meta.url), 'utf8'), PAGE);
const files = steps.map((s) => fileURLToPath(new URL(`block-line-${s.line}.ts`, TMP)));
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  process.env['DATABASE_URL'] = db.url;
  process.env['LOG_LEVEL'] ??= 'error';
  await rm(TMP, { recursive: true, force: true });
  await mkdir(TMP, { recursive: true });
  await Promise.all(steps.map((s, i) => writeFile(files[i]!, s.code)));
});

afterAll(async () => {
  await rm(TMP, { recursive: true, force: true });
  await db?.drop();
});

describe(PAGE, () => {
  it('has the Express and Fastify recipes to run, and they type-check', () => {
    expect(steps.map((s) => s.code.match(/from '(express|fastify)'/)?.[1])).toEqual([
      'express',
      'fastify',
    ]);
    expect(docTypeErrors(files, PAGE)).toEqual([]);
  });

  steps.forEach((step, i) => {
    it(`runs the block at line ${step.line}`, async () => {
      await import(pathToFileURL(files[i]!).href);
    });
  });
});
