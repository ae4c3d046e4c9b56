/**
 * The import rules of ARCHITECTURE.md, checked: each file of src/ imports
 * only the folders its row allows, and no import circle exists between files
 * (type-only imports count: a circle of knowledge is still a circle).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/** `folder -> allowed folders`, from the table of ARCHITECTURE.md. */
function rules(): Map<string, Set<string>> {
  const text = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`([a-z]+\/|[a-z]+\.ts)`$/.exec(cells[1] ?? '')?.[1];
    if (!name || cells.length < 4) continue;
    const allowed = [...(cells[2] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    out.set(name, new Set(allowed));
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** The unit a file belongs to: `queue/` for src/queue/feed.ts, `client.ts` for src/client.ts. */
function unitOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? rel[0]! : `${rel[0]}/`;
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

/** Relative imports of a file, resolved to .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) =>
    normalize(join(dirname(file), (m[1] ?? m[2])!)).replace(/\.js$/, '.ts'),
  );
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('import rules (ARCHITECTURE.md)', () => {
  const table = rules();

  it('has a row for every folder of src/', () => {
    const units = [...new Set(files.map(unitOf))].sort();
    expect(units.filter((u) => !table.has(u))).toEqual([]);
  });

  it('each file imports only what its folder may import', () => {
    const broken: string[] = [];
    for (const [file, imports] of graph) {
      const from = unitOf(file);
      for (const target of imports) {
        const to = unitOf(target);
        if (to !== from && !table.get(from)?.has(to)) {
          broken.push(
            `${relative(ROOT, file)} imports ${relative(ROOT, target)} (${from} may not import ${to})`,
          );
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('has no import circle', () => {
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      path.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') {
          circles.push(
            [...path.slice(path.indexOf(next)), next].map((f) => relative(SRC, f)).join(' -> '),
          );
        } else if (!state.has(next) && graph.has(next)) {
          visit(next);
        }
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(circles).toEqual([]);
  });

  it('sees the imports it checks', () => {
    // A parser that found nothing would pass every rule.
    const feed = graph.get(join(SRC, 'queue/feed.ts')) ?? [];
    expect(feed).toContain(join(SRC, 'queue/claimer.ts'));
    expect(graph.get(join(SRC, 'client.ts'))).toContain(join(SRC, 'worker/start.ts'));
  });
});
