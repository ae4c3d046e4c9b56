/**
 * The comparison: one row per measure with pgdispatch next to its baseline
 * and a ratio whose direction is "higher is better for pgdispatch"
 * (throughputs: pgdispatch / baseline; latencies: baseline / pgdispatch),
 * then each target (the queue's, the built-in webhook's) with PASS or MISS.
 */

import type { Config } from './config.js';
import type { MachineInfo } from './db.js';
import type { BatchResult } from './phases/batch.js';
import type { E2eResult } from './phases/e2e.js';
import type { HttpResult } from './phases/http.js';
import type { LatencyResult } from './phases/latency.js';
import type { TxnResult } from './phases/txn.js';

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
  /** What it is a target for: the queue, or the built-in webhook. */
  group: 'queue' | 'webhook';
  name: string;
  required: number;
  actual: number | null;
  pass: boolean;
  /** `ratio`: actual ≥ required (×); `us-over`: actual ≤ required (µs more than the reference). */
  kind: 'ratio' | 'us-over';
  /** Shown after the figures, e.g. the two sides behind a difference. */
  detail?: string;
}

export interface Report {
  rows: Row[];
  targets: Target[];
}

const THROUGHPUT = 'pgdispatch / baseline';
const LATENCY = 'baseline / pgdispatch';

const best = <T>(items: T[], key: (t: T) => number): T | undefined =>
  items.reduce<T | undefined>((b, t) => (b === undefined || key(t) > key(b) ? t : b), undefined);

/** The round of `system` with `processes` workers (at `concurrency`, default the first) that delivered fastest. */
const bestE2e = (
  m: Measurements,
  system: E2eResult['system'],
  processes: number,
  concurrency = m.e2e[0]?.concurrency,
) =>
  best(
    m.e2e.filter(
      (r) => r.system === system && r.processes === processes && r.concurrency === concurrency,
    ),
    (r) => r.callsPerSec,
  );

/** Mean CPU µs per delivered call of `system`'s rounds: `part` of it, or workers + Postgres + receiver. */
function meanCpuUs(
  m: Measurements,
  system: E2eResult['system'],
  processes: number,
  concurrency: number,
  part: 'workers' | 'total',
): number | undefined {
  const values = m.e2e
    .filter(
      (r) => r.system === system && r.processes === processes && r.concurrency === concurrency,
    )
    .flatMap((r) => {
      const c = r.cpuPerCall;
      if (!c) return [];
      const v = part === 'workers' ? c.workers : c.workers + c.postgres + c.receiver;
      return Number.isFinite(v) ? [v * 1000] : [];
    });
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length;
}

const procs = (p: number) => `${p} worker process${p > 1 ? 'es' : ''}`;

const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? a / b : null;

export function buildReport(m: Measurements): Report {
  const rows: Row[] = [];
  const targets: Target[] = [];
  const target = (group: Target['group'], name: string, required: number, actual: number | null) =>
    targets.push({
      group,
      name,
      required,
      actual,
      pass: actual !== null && actual >= required,
      kind: 'ratio',
    });

  const processes = [...new Set(m.e2e.map((r) => r.processes))].sort();
  const concurrencies = [...new Set(m.e2e.map((r) => r.concurrency))];
  const first = concurrencies[0];
  const several = concurrencies.length > 1;
  const at = (c: number) => (several ? `, concurrency ${c}` : '');
  for (const c of concurrencies) {
    for (const p of processes) {
      const of = (s: E2eResult['system']) => bestE2e(m, s, p, c)?.callsPerSec;
      const pgd = of('pgdispatch');
      for (const [system, name, required] of [
        ['gw-defaults', 'graphile-worker defaults', 2],
        ['gw-local', 'graphile-worker local queue + batching', 1.2],
      ] as const) {
        if (system === 'gw-defaults' && c !== first) continue;
        const base = of(system);
        const r = ratio(pgd, base);
        rows.push({
          measure: `end-to-end delivery, ${procs(p)}${at(c)}`,
          unit: 'calls/s',
          pgdispatch: pgd ?? null,
          baseline: base ?? null,
          baselineName: name,
          ratio: r,
          ratioMeaning: THROUGHPUT,
        });
        if (pgd !== undefined && base !== undefined && c === first) {
          target('queue', `end-to-end ×${p} ≥ ${required}× ${name}`, required, r);
        }
      }
    }
  }
  for (const c of concurrencies) {
    for (const p of processes) {
      const hook = bestE2e(m, 'pgdispatch-webhook', p, c);
      const local = bestE2e(m, 'gw-local', p, c);
      if (!hook) continue;
      const r = ratio(hook.callsPerSec, local?.callsPerSec);
      rows.push({
        measure: `end-to-end, built-in signed webhook, ${procs(p)}${at(c)}`,
        unit: 'calls/s',
        pgdispatch: hook.callsPerSec,
        baseline: local?.callsPerSec ?? null,
        baselineName: 'graphile-worker local queue + batching',
        ratio: r,
        ratioMeaning: THROUGHPUT,
      });
      if (local) {
        target(
          'webhook',
          `built-in webhook end-to-end ×${p}, concurrency ${c} ≥ 1.0× graphile-worker local queue + batching (moonshot 1.2×)`,
          1,
          r,
        );
      }
      const hookCpu = meanCpuUs(m, 'pgdispatch-webhook', p, c, 'workers');
      const fnCpu = meanCpuUs(m, 'pgdispatch', p, c, 'workers');
      if (hookCpu !== undefined) {
        rows.push({
          measure: `worker CPU per call, built-in webhook, ${procs(p)}${at(c)}`,
          unit: 'µs',
          pgdispatch: hookCpu,
          baseline: fnCpu ?? null,
          baselineName: 'user function (bare undici POST)',
          ratio: ratio(fnCpu, hookCpu),
          ratioMeaning: 'user function / webhook',
        });
      }
      if (hookCpu !== undefined && fnCpu !== undefined) {
        const over = hookCpu - fnCpu;
        targets.push({
          group: 'webhook',
          name: `built-in webhook worker CPU per call ×${p}, concurrency ${c} within 20 µs of the user function's`,
          required: 20,
          actual: over,
          pass: over <= 20,
          kind: 'us-over',
          detail: `${Math.round(hookCpu)} against ${Math.round(fnCpu)} µs, mean of the rounds`,
        });
      }
      const hookTotal = meanCpuUs(m, 'pgdispatch-webhook', p, c, 'total');
      const localTotal = meanCpuUs(m, 'gw-local', p, c, 'total');
      if (hookTotal !== undefined && localTotal !== undefined) {
        rows.push({
          measure: `CPU per delivered call (workers + postgres + receiver), built-in webhook, ${procs(p)}${at(c)}`,
          unit: 'µs',
          pgdispatch: hookTotal,
          baseline: localTotal,
          baselineName: 'graphile-worker local queue + batching',
          ratio: ratio(localTotal, hookTotal),
          ratioMeaning: 'baseline / pgdispatch',
        });
      }
    }
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
    if (q === 'p50' && lp && lb)
      target('queue', 'commit-to-start p50 ≤ 1.5× graphile-worker', 1 / 1.5, r);
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
    if (txn.pgd && txn.base) target('queue', 'transactional dispatch ≥ 0.8× add_job', 0.8, r);
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
    if (batch.pgd && batch.base) target('queue', 'batch dispatch ≥ 0.8× addJobs', 0.8, r);
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
  if (unit === 'µs') return String(Math.round(n));
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
    `Sizes: ${config.calls} end-to-end calls, concurrency ${config.concurrencies.join(' and ')} per worker process ` +
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
          'Conc',
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
          String(r.concurrency),
          String(r.processes),
          String(r.round),
          Math.round(r.calls / (r.enqueueMs / 1000)).toLocaleString('en-US'),
          (r.drainMs / 1000).toFixed(2),
          (r.deliveryMs / 1000).toFixed(2),
          Math.round(r.callsPerSec).toLocaleString('en-US'),
          ...cpuCells(r),
          r.check,
        ]),
        [false, true, true, true, true, true, true, true, true, true, true, true, false],
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
  const headings = {
    queue: 'Targets (ratios pgdispatch must reach):',
    webhook: 'Targets of the built-in webhook:',
  };
  for (const group of ['queue', 'webhook'] as const) {
    const these = report.targets.filter((x) => x.group === group);
    if (these.length === 0) continue;
    out.push('', headings[group]);
    for (const t of these) {
      const figures =
        t.kind === 'ratio'
          ? `ratio ${t.actual === null ? '-' : `${t.actual.toFixed(2)}×`} (needs ≥ ${t.required.toFixed(2)}×)`
          : `${t.actual === null ? '-' : `${t.actual >= 0 ? '+' : ''}${t.actual.toFixed(1)} µs`} (needs ≤ +${t.required} µs)`;
      const detail = t.detail ? `; ${t.detail}` : '';
      out.push(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${figures}${detail}`);
    }
  }
  return out.join('\n');
}
