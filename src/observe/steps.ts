/**
 * A workflow call's steps and children as a tree, for `pgdispatch show`:
 * each step on a line, a child call's own steps under it.
 */
import type { Runtime } from '../sql/runtime.js';

export interface StepRow {
  call_id: string;
  seq: number;
  name: string;
  kind: string;
  status: string;
  attempts: number;
  output: unknown;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
  child_call_id: string | null;
  wake_at: Date | null;
  signal_key: string | null;
}

export interface StepNode extends StepRow {
  /** The child call's function and status, for a call step. */
  child?: { id: string; function: string; status: string; steps: StepNode[] };
}

/** The steps of `callId`, with children's steps down to `depth` levels. */
export async function loadStepTree(rt: Runtime, callId: string, depth = 3): Promise<StepNode[]> {
  const { pool, queries } = rt;
  const { rows } = await pool.query<StepRow>({ ...queries.steps, values: [callId] });
  const childIds = rows.map((r) => r.child_call_id).filter((c): c is string => c !== null);
  const children = new Map<string, { id: string; function: string; status: string }>();
  if (childIds.length > 0) {
    const { rows: cs } = await pool.query<{ id: string; function: string; status: string }>({
      ...queries.children,
      values: [[callId]],
    });
    for (const c of cs) children.set(c.id, c);
  }
  const nodes: StepNode[] = [];
  for (const r of rows) {
    const c = r.child_call_id ? children.get(r.child_call_id) : undefined;
    nodes.push(
      c
        ? {
            ...r,
            child: {
              ...c,
              steps: depth > 1 ? await loadStepTree(rt, c.id, depth - 1) : [],
            },
          }
        : r,
    );
  }
  return nodes;
}

/** The tree as text lines. */
export function renderStepTree(nodes: StepNode[], indent = ''): string[] {
  const lines: string[] = [];
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    const detail: string[] = [];
    if (n.attempts > 1) detail.push(`${n.attempts} attempts`);
    if (n.kind === 'wait' && n.signal_key) detail.push(`key ${n.signal_key}`);
    if (n.wake_at && (n.status === 'waiting' || n.status === 'retrying')) {
      detail.push(`${n.status === 'retrying' ? 'retry' : 'until'} ${n.wake_at.toISOString()}`);
    }
    if (n.child) detail.push(`call ${n.child.id} ${n.child.function} ${n.child.status}`);
    if (n.error) detail.push(clip(n.error, 80));
    else if (n.status === 'succeeded' && n.output !== null && n.kind !== 'call') {
      detail.push(clip(JSON.stringify(n.output), 60));
    }
    lines.push(
      `${indent}${last ? '└─' : '├─'} ${String(n.seq).padStart(2)} ${n.kind.padEnd(6)} ${n.name.padEnd(20)} ${n.status.padEnd(9)} ${detail.join(', ')}`.trimEnd(),
    );
    if (n.child && n.child.steps.length > 0) {
      lines.push(...renderStepTree(n.child.steps, `${indent}${last ? '   ' : '│  '}`));
    }
  });
  return lines;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
