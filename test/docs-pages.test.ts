/**
 * The runnable blocks of the docs/ pages: each page's ```ts modules and
 * ```sql blocks run in order against a fresh database of its own, after
 * type-checking (test/support/doc-blocks.ts says which blocks run). In
 * docs/recipes.md the Express and Fastify recipes run; NestJS and Next.js
 * are `no-run`.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { docSteps, docTypeErrors } from './support/doc-blocks.js';

const PAGES = ['docs/recipes.md', 'docs/typescript.md', 'docs/observability.md'];
const TMP = new URL('./.docs-tmp/', import.meta.url);

const pages = PAGES.map((page) => {
  const steps = docSteps(readFileSync(new URL(`../${page}`, import.meta.url), 'utf8'), page);
  const slug = page.replaceAll(/[^a-z]/g, '-');
  const files = steps.map((s) => fileURLToPath(new URL(`${slug}-line-${s.line}.ts`, TMP)));
  return { page, steps, files };
});

beforeAll(async () => {
  process.env['LOG_LEVEL'] ??= 'error';
  await rm(TMP, { recursive: true, force: true });
  await mkdir(TMP, { recursive: true });
  for (const { steps, files } of pages) {
    await Promise.all(steps.map((s, i) => (s.kind === 'ts' ? writeFile(files[i]!, s.code) : null)));
  }
});

afterAll(async () => {
  await rm(TMP, { recursive: true, force: true });
});

// One program for every page: type-checking is most of this file's time.
it('has ts blocks that type-check', () => {
  const ts = pages.flatMap(({ steps, files }) =>
    steps.flatMap((s, i) => (s.kind === 'ts' ? [files[i]!] : [])),
  );
  expect(docTypeErrors(ts)).toEqual([]);
  // Express's, Fastify's and OpenTelemetry's types: about 10 s on an idle machine.
}, 180_000);

for (const { page, steps, files } of pages) {
  describe(page, () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await createTestDatabase();
    });

    afterAll(async () => {
      await db?.drop();
    });

    it('has blocks to run', () => {
      expect(steps.length).toBeGreaterThan(0);
      if (page === 'docs/recipes.md') {
        expect(steps.map((s) => s.code.match(/from '(express|fastify)'/)?.[1])).toEqual([
          'express',
          'fastify',
        ]);
      }
    });

    steps.forEach((step, i) => {
      it(`runs the ${step.kind} block at line ${step.line}`, async () => {
        // Each page's modules read DATABASE_URL when they run.
        process.env['DATABASE_URL'] = db.url;
        if (step.kind === 'sql') await db.pool.query(step.code);
        else await import(pathToFileURL(files[i]!).href);
      });
    });
  });
}
