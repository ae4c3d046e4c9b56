/**
 * Every ```ts and ```sql block of README.md, then of each docs/ page in the
 * order README links them, runs, in order, against one fresh database, so the
 * docs cannot rot. Every docs/*.md page must be linked from README. A ```ts block is a module (imported,
 * with 'pgdispatch' resolved to src/index.ts by vitest.config.ts); a block
 * tagged ```ts continues is appended to the module before it. SQL blocks run
 * as they are. ```ts no-run blocks and shell blocks are not run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';

interface Step {
  kind: 'ts' | 'sql';
  /** Page of the block, e.g. `docs/sql.md`. */
  page: string;
  /** Line of the block's opening fence (the first block, for a module). */
  line: number;
  code: string;
}

const ROOT = new URL('../', import.meta.url);
/** README.md, then the docs pages in the order README links them. */
function pages(): string[] {
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
  const linked = [...readme.matchAll(/\]\((docs\/[a-z0-9-]+\.md)[)#]/g)].map((m) => m[1]!);
  return ['README.md', ...new Set(linked)];
}
const DOCS = readdirSync(new URL('docs/', ROOT))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`);
const TMP = new URL('./.readme-tmp/', import.meta.url);

function readmeSteps(page: string, markdown: string): Step[] {
  const steps: Step[] = [];
  const fence = /^```([^\s`]*)([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm;
  for (const m of markdown.matchAll(fence)) {
    const [, lang, info, code] = m as unknown as [string, string, string, string];
    const line = markdown.slice(0, m.index).split('\n').length;
    const tags = info.trim().split(/\s+/);
    if (tags.includes('no-run')) continue;
    if (lang === 'sql') steps.push({ kind: 'sql', page, line, code });
    if (lang !== 'ts') continue;
    if (tags.includes('continues')) {
      const previous = steps.at(-1);
      if (previous?.kind !== 'ts')
        throw new Error(`${page} line ${line}: "ts continues" must follow a ts block`);
      previous.code += `\n// ${page} line ${line}\n${code}`;
    } else {
      steps.push({ kind: 'ts', page, line, code: `// ${page} line ${line}\n${code}` });
    }
  }
  return steps;
}

const steps = pages().flatMap((page) =>
  readmeSteps(page, readFileSync(new URL(page, ROOT), 'utf8')),
);
const files = new Map<Step, string>(
  steps.map((s, i) => [s, fileURLToPath(new URL(`block-${i}-line-${s.line}.ts`, TMP))]),
);
let db: TestDatabase;

/** Type errors of the ts blocks, checked as the project's own code is (strict). */
function typeErrors(paths: string[]): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    esModuleInterop: true,
    paths: { pgdispatch: [fileURLToPath(new URL('../src/index.ts', import.meta.url))] },
  };
  const program = ts.createProgram(paths, options);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && paths.includes(d.file.fileName))
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      const text = d.file!.text.split('\n');
      // The page line: the nearest "// <page> line N" marker above, plus the offset.
      let marker = line;
      while (marker > 0 && !/^\/\/ \S+\.md line \d+$/.test(text[marker]!)) marker--;
      const [, page, at] = /^\/\/ (\S+\.md) line (\d+)$/.exec(text[marker]!) ?? [];
      return `${page} line ${Number(at) + (line - marker)}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

beforeAll(async () => {
  db = await createTestDatabase();
  process.env['DATABASE_URL'] = db.url;
  process.env['LOG_LEVEL'] ??= 'error';
  await rm(TMP, { recursive: true, force: true });
  await mkdir(TMP, { recursive: true });
  for (const [step, file] of files) if (step.kind === 'ts') await writeFile(file, step.code);
});

afterAll(async () => {
  await rm(TMP, { recursive: true, force: true });
  await db?.drop();
});

describe('README.md and docs/ examples', () => {
  it('links every docs page from README', () => {
    expect(DOCS.filter((d) => !pages().includes(d))).toEqual([]);
  });

  it('has examples of both kinds to run', () => {
    expect(steps.filter((s) => s.kind === 'ts').length).toBeGreaterThanOrEqual(5);
    expect(steps.filter((s) => s.kind === 'sql').length).toBeGreaterThanOrEqual(5);
  });

  it('has ts blocks that type-check', { timeout: 180_000 }, () => {
    const paths = steps.filter((s) => s.kind === 'ts').map((s) => files.get(s)!);
    expect(typeErrors(paths)).toEqual([]);
  });

  for (const step of steps) {
    it(`runs the ${step.kind} block at ${step.page} line ${step.line}`, async () => {
      if (step.kind === 'sql') {
        await db.pool.query(step.code);
        return;
      }
      const mod = (await import(pathToFileURL(files.get(step)!).href)) as { default?: unknown };
      // A module meant for `pgdispatch worker` exports its instance: close its pool.
      const instance = mod.default as { close?: () => Promise<void> } | undefined;
      await instance?.close?.();
    });
  }
});
