/**
 * The comparison: one row per measure with pgdispatch next to its baseline
 * and a ratio whose direction is "higher is better for pgdispatch"
 * (throughputs: pgdispatch / baseline; latencies: baseline / pgdispatch),
 * then each target (a ratio pgdispatch must reach) with PASS or MISS.
 */
import type { MachineInfo } from './db.js';
import type { BatchResult } from './phases/batch.js';
import type { E2eResult } from './phases/e2e.js';
import type { HttpResult } from './phases/http.js';
import type { LatencyResult } from './phases/latency.js';
import type { TxnResult } from './phases/txn.js';
import type { Config } from './config.js';

export interface Measurements {
  e2e: E2eResult[];
  http?: HttpResult;
  latency: LatencyResult[];
  txn: TxnResult[];
  batch: BatchResult[];
}

export interface Row {
  measure: string;
  unit: string;
  pgdispatch: number | null;
  baseline: number | null;
  baselineName: string;
  /** Higher is better for pgdispatch, whatever the unit. */
  ratio: number | null;
  ratioMeaning: string;
}

export interface Target {
  name: string;
  required: number;
  actual: number | null;
  pass: boolean;
}

export interface Report {
  rows: Row[];
  targets: Target[];
}

const THROUGHPUT = 'pgdispatch / baseline';
const LATENCY = 'baseline / pgdispatch';

const best = <T>(items: T[], key: (t: T) => number): T | undefined =>
  items.reduce<T | undefined>((b, t) => (b === undefined || key(t) > key(b) ? t : b), undefined);

/** The round of `system` with `processes` workers that delivered fastest. */
const bestE2e = (m: Measurements, system: E2eResult['system'], processes: number) =>
  best(
    m.e2e.filter((r) => r.system === system && r.processes === processes),
    (r) => r.callsPerSec,
  );

const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? a / b : null;

export function buildReport(m: Measurements): Report {
  const rows: Row[] = [];
  const targets: Target[] = [];
  const target = (name: string, required: number, actual: number | null) =>
    targets.push({ name, required, actual, pass: actual !== null && actual >= required });

  const processes = [...new Set(m.e2e.map((r) => r.processes))].sort();
  for (const p of processes) {
    const of = (s: E2eResult['system']) => bestE2e(m, s, p)?.callsPerSec;
    const pgd = of('pgdispatch');
    for (const [system, name, required] of [
      ['gw-defaults', 'graphile-worker defaults', 2],
      ['gw-local', 'graphile-worker local queue + batching', 1.2],
    ] as const) {
      const base = of(system);
      const r = ratio(pgd, base);
      rows.push({
        measure: `end-to-end delivery, ${p} worker process${p > 1 ? 'es' : ''}`,
        unit: 'calls/s',
        pgdispatch: pgd ?? null,
        baseline: base ?? null,
        baselineName: name,
        ratio: r,
        ratioMeaning: THROUGHPUT,
      });
      if (pgd !== undefined && base !== undefined) {
        target(`end-to-end ×${p} ≥ ${required}× ${name}`, required, r);
      }
    }
  }
  for (const p of processes) {
    const hook = bestE2e(m, 'pgdispatch-webhook', p);
    const local = bestE2e(m, 'gw-local', p);
    if (!hook) continue;
    rows.push({
      measure: `end-to-end, built-in signed webhook, ${p} worker process${p > 1 ? 'es' : ''}`,
      unit: 'calls/s',
      pgdispatch: hook.callsPerSec,
      baseline: local?.callsPerSec ?? null,
      baselineName: 'graphile-worker local queue + batching',
      ratio: ratio(hook.callsPerSec, local?.callsPerSec),
      ratioMeaning: THROUGHPUT,
    });
  }
  if (m.http) {
    const pgd1 = bestE2e(m, 'pgdispatch', 1)?.callsPerSec;
    rows.push({
      measure: 'HTTP bound (bare undici loop, no database)',
      unit: 'requests/s',
      pgdispatch: pgd1 ?? null,
      baseline: m.http.requestsPerSec,
      baselineName: 'bare undici (pgdispatch ×1 as share of it)',
      ratio: ratio(pgd1, m.http.requestsPerSec),
      ratioMeaning: 'share of the bound',
    });
  }
  const lat = (s: LatencyResult['system']) => m.latency.find((r) => r.system === s);
  const lp = lat('pgdispatch');
  const lb = lat('gw-defaults');
  for (const q of ['p50', 'p90', 'p99'] as const) {
    if (!lp && !lb) break;
    const r = ratio(lb?.[q], lp?.[q]);
    rows.push({
      measure: `commit-to-start latency ${q}`,
      unit: 'ms',
      pgdispatch: lp?.[q] ?? null,
      baseline: lb?.[q] ?? null,
      baselineName: 'graphile-worker add_job',
      ratio: r,
      ratioMeaning: LATENCY,
    });
    if (q === 'p50' && lp && lb) target('commit-to-start p50 ≤ 1.5× graphile-worker', 1 / 1.5, r);
  }
  const pair = <T extends { side: string }>(items: T[], key: (t: T) => number) => ({
    pgd: best(
      items.filter((t) => t.side === 'pgdispatch'),
      key,
    ),
    base: best(
      items.filter((t) => t.side === 'graphile-worker'),
      key,
    ),
  });
  const txn = pair(m.txn, (t) => t.txnsPerSec);
  if (txn.pgd || txn.base) {
    const r = ratio(txn.pgd?.txnsPerSec, txn.base?.txnsPerSec);
    rows.push({
      measure: 'transactional dispatch (insert + dispatch)',
      unit: 'txn/s',
      pgdispatch: txn.pgd?.txnsPerSec ?? null,
      baseline: txn.base?.txnsPerSec ?? null,
      baselineName: 'insert + graphile_worker.add_job',
      ratio: r,
      ratioMeaning: THROUGHPUT,
    });
    if (txn.pgd && txn.base) target('transactional dispatch ≥ 0.8× add_job', 0.8, r);
  }
  const batch = pair(m.batch, (t) => t.callsPerSec);
  if (batch.pgd || batch.base) {
    const r = ratio(batch.pgd?.callsPerSec, batch.base?.callsPerSec);
    rows.push({
      measure: 'batch dispatch (dispatchMany)',
      unit: 'calls/s',
      pgdispatch: batch.pgd?.callsPerSec ?? null,
      baseline: batch.base?.callsPerSec ?? null,
      baselineName: 'graphile-worker addJobs',
      ratio: r,
      ratioMeaning: THROUGHPUT,
    });
    if (batch.pgd && batch.base) target('batch dispatch ≥ 0.8× addJobs', 0.8, r);
  }
  const history = m.e2e.find((r) => r.history)?.history;
  if (history) {
    rows.push({
      measure: 'history per delivered call (calls+attempts+call_events, with indexes)',
      unit: 'bytes',
      pgdispatch: history.bytesPerCall,
      baseline: null,
      baselineName: 'graphile-worker keeps none',
      ratio: null,
      ratioMeaning: '',
    });
  }
  return { rows, targets };
}

function cpuCells(r: E2eResult): string[] {
  const c = r.cpuPerCall;
  const us = (ms: number) => (Number.isFinite(ms) ? String(Math.round(ms * 1000)) : '-');
  return c ? [us(c.workers), us(c.postgres), us(c.receiver), us(c.other)] : ['-', '-', '-', '-'];
}

function fmt(n: number | null, unit: string): string {
  if (n === null) return '-';
  if (unit === 'ms') return n.toFixed(2);
  return Math.round(n).toLocaleString('en-US');
}

function table(header: string[], body: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function renderReport(
  report: Report,
  machine: MachineInfo,
  config: Config,
  m: Measurements,
): string {
  const out: string[] = [];
  const s = machine.postgresSettings;
  out.push(
    `Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, ` +
      `Node ${machine.node}, Postgres ${machine.postgres} (${machine.database}; ` +
      `fsync ${s['fsync']}, synchronous_commit ${s['synchronous_commit']}, shared_buffers ${s['shared_buffers']})`,
  );
  out.push(
    `Sizes: ${config.calls} end-to-end calls, concurrency ${config.concurrency} per worker process ` +
      `(both sides), worker pool 20 connections (both sides), enqueued in batches of ${config.batchSize}; ` +
      `${config.latencySamples} latency samples; ${config.txns} transactions on ${config.txnClients} clients; ` +
      `${config.batchCalls} batch calls; best of ${config.rounds} round(s) for end-to-end, txn and batch; ` +
      `end-to-end statistics ${config.stats === 'fresh' ? 'fresh (analyzed once enqueued)' : 'stale (never analyzed)'}.`,
  );
  out.push('');
  out.push(
    table(
      [
        'Measure',
        'Unit',
        'pgdispatch',
        'Baseline',
        'Baseline is',
        'Ratio',
        'Ratio = (higher is better)',
      ],
      report.rows.map((r) => [
        r.measure,
        r.unit,
        fmt(r.pgdispatch, r.unit),
        fmt(r.baseline, r.unit),
        r.baselineName,
        r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`,
        r.ratioMeaning,
      ]),
      [false, false, true, true, false, true, false],
    ),
  );
  if (m.e2e.length > 0) {
    out.push('');
    out.push(
      table(
        [
          'End-to-end run',
          'Procs',
          'Round',
          'Enqueue calls/s',
          'Drain s',
          'Delivery s',
          'Calls/s',
          'CPU µs/call: workers',
          'postgres',
          'receiver',
          'other load',
          'Check',
        ],
        m.e2e.map((r) => [
          r.system,
          String(r.processes),
          String(r.round),
          Math.round(r.calls / (r.enqueueMs / 1000)).toLocaleString('en-US'),
          (r.drainMs / 1000).toFixed(2),
          (r.deliveryMs / 1000).toFixed(2),
          Math.round(r.callsPerSec).toLocaleString('en-US'),
          ...cpuCells(r),
          r.check,
        ]),
        [false, true, true, true, true, true, true, true, true, true, true, false],
      ),
    );
  }
  const history = m.e2e.find((r) => r.history)?.history;
  if (history) {
    const parts = Object.entries(history.tables).map(
      ([name, t]) =>
        `${name} ${Math.round(t.table / history.deliveredCalls)} + ${Math.round(t.indexes / history.deliveredCalls)} idx`,
    );
    out.push('', `History bytes per call (table + indexes): ${parts.join(', ')}`);
  }
  const noisy = m.e2e.filter((r) => r.cpu && r.cpu.otherMs / (r.cpu.wallMs * machine.cores) > 0.15);
  if (noisy.length > 0) {
    out.push(
      '',
      `WARNING: other processes kept the machine busy during ${noisy.length} end-to-end run(s) ` +
        `(${noisy.map((r) => `${r.system}×${r.processes} ${Math.round((100 * r.cpu!.otherMs) / (r.cpu!.wallMs * machine.cores))}%`).join(', ')} ` +
        'of all cores); their numbers and ratios are unreliable: rerun on a quiet machine.',
    );
  }
  out.push('', 'Targets (ratios pgdispatch must reach):');
  for (const t of report.targets) {
    const actual = t.actual === null ? '-' : `${t.actual.toFixed(2)}×`;
    out.push(
      `  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ratio ${actual} (needs ≥ ${t.required.toFixed(2)}×)`,
    );
  }
  return out.join('\n');
}
