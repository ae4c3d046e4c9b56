/**
 * Every ```ts and ```sql block of README.md runs, in order, against a fresh
 * database, so the README cannot rot. A ```ts block is a module (imported,
 * with 'pgdispatch' resolved to src/index.ts by vitest.config.ts); a block
 * tagged ```ts continues is appended to the module before it. SQL blocks run
 * as they are. ```ts no-run blocks and shell blocks are not run.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';

interface Step {
  kind: 'ts' | 'sql';
  /** README line of the block's opening fence (the first block, for a module). */
  line: number;
  code: string;
}

const README = new URL('../README.md', import.meta.url);
const TMP = new URL('./.readme-tmp/', import.meta.url);

function readmeSteps(markdown: string): Step[] {
  const steps: Step[] = [];
  const fence = /^```([^\s`]*)([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm;
  for (const m of markdown.matchAll(fence)) {
    const [, lang, info, code] = m as unknown as [string, string, string, string];
    const line = markdown.slice(0, m.index).split('\n').length;
    const tags = info.trim().split(/\s+/);
    if (tags.includes('no-run')) continue;
    if (lang === 'sql') steps.push({ kind: 'sql', line, code });
    if (lang !== 'ts') continue;
    if (tags.includes('continues')) {
      const previous = steps.at(-1);
      if (previous?.kind !== 'ts')
        throw new Error(`README line ${line}: "ts continues" must follow a ts block`);
      previous.code += `\n// README line ${line}\n${code}`;
    } else {
      steps.push({ kind: 'ts', line, code: `// README line ${line}\n${code}` });
    }
  }
  return steps;
}

const steps = readmeSteps(readFileSync(README, 'utf8'));
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
      // The README line: the nearest "// README line N" marker above, plus the offset.
      let marker = line;
      while (marker > 0 && !text[marker]!.startsWith('// README line ')) marker--;
      const readmeLine = Number(text[marker]!.slice('// README line '.length)) + (line - marker);
      return `README line ${readmeLine}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
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

describe('README.md examples', () => {
  it('has examples of both kinds to run', () => {
    expect(steps.filter((s) => s.kind === 'ts').length).toBeGreaterThanOrEqual(5);
    expect(steps.filter((s) => s.kind === 'sql').length).toBeGreaterThanOrEqual(5);
  });

  it('has ts blocks that type-check', () => {
    const paths = steps.filter((s) => s.kind === 'ts').map((s) => files.get(s)!);
    expect(typeErrors(paths)).toEqual([]);
  });

  for (const step of steps) {
    it(`runs the ${step.kind} block at README line ${step.line}`, async () => {
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
