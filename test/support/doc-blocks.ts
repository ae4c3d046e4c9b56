/**
 * Runnable blocks of a markdown page: each ```ts block is a module (a block
 * tagged `ts continues` is appended to the one before), ```sql blocks run as
 * they are, `no-run` blocks and other languages are skipped.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface DocStep {
  kind: 'ts' | 'sql';
  /** Line of the block's opening fence (the first block, for a module). */
  line: number;
  code: string;
}

export function docSteps(markdown: string, page: string): DocStep[] {
  const steps: DocStep[] = [];
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
      if (previous?.kind !== 'ts') throw new Error(`${page} line ${line}: "ts continues" must follow a ts block`);
      previous.code += `\n// ${page} line ${line}\n${code}`;
    } else {
      steps.push({ kind: 'ts', line, code: `// ${page} line ${line}\n${code}` });
    }
  }
  return steps;
}

/** Type errors of the blocks written to `paths` (one program), strict, 'pgdispatch' mapped to the sources. */
export function docTypeErrors(paths: string[]): string[] {
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
    paths: { pgdispatch: [fileURLToPath(new URL('../../src/index.ts', import.meta.url))] },
  };
  const program = ts.createProgram(paths, options);
  const marker = /^\/\/ (\S+) line (\d+)$/;
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && paths.includes(d.file.fileName))
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      const text = d.file!.text.split('\n');
      let m = line;
      while (m > 0 && !marker.test(text[m]!)) m--;
      const [, page, start] = marker.exec(text[m]!) ?? [];
      const where = `${page} line ${Number(start) + (line - m)}`;
      return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}
