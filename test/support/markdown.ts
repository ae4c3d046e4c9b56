/**
 * The runnable examples of a Markdown page: its ```sql blocks, and its ```ts
 * blocks joined into modules (a block tagged `continues` is appended to the
 * module before it). Blocks tagged `no-run`, and other languages, are left out.
 */
export interface Example {
  kind: 'ts' | 'sql';
  /** Line of the block's opening fence (the first block, for a module). */
  line: number;
  code: string;
}

export function markdownExamples(markdown: string, page: string): Example[] {
  const out: Example[] = [];
  for (const m of markdown.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)) {
    const [, lang, info, code] = m as unknown as [string, string, string, string];
    const tags = info.trim().split(/\s+/);
    if (tags.includes('no-run') || (lang !== 'ts' && lang !== 'sql')) continue;
    const line = markdown.slice(0, m.index).split('\n').length;
    if (lang === 'sql') {
      out.push({ kind: 'sql', line, code });
    } else if (tags.includes('continues')) {
      const module = out.findLast((e) => e.kind === 'ts');
      if (!module) throw new Error(`${page} line ${line}: "ts continues" follows no ts block`);
      module.code += `\n${code}`;
    } else {
      out.push({ kind: 'ts', line, code });
    }
  }
  return out;
}
