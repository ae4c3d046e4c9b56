/** Functions and their stats over a bounded window, with charts. */
import type { Runner } from '../db.js';
import { html, raw } from '../html.js';
import { empty, fmtMs, layout, type PageContext } from '../layout.js';
import type { DashboardQueries } from '../../observe/dashboard-statements.js';
import { BadRequest } from './calls.js';

/** Window → bucket width (whole minutes: the rollup counts per minute), at most 60 or so points per line. */
export const STATS_WINDOWS: Record<string, [number, number]> = {
  '15m': [900, 60],
  '1h': [3600, 60],
  '6h': [21_600, 300],
  '24h': [86_400, 1800],
  '7d': [604_800, 10_800],
};

interface SeriesRow {
  t: number;
  key: string | null;
  n: number;
  errors: number;
  p: [number, number, number];
}

export async function functionsPage(
  ctx: PageContext,
  q: DashboardQueries,
  run: Runner,
  params: URLSearchParams,
): Promise<string> {
  const w = params.get('window') || '1h';
  const win = STATS_WINDOWS[w];
  if (!win) throw new BadRequest(`window must be one of ${Object.keys(STATS_WINDOWS).join(', ')}`);
  const [windowS, bucketS] = win;
  const stFns = q.functions();
  const stCounts = q.functionCounts(windowS);
  const stTotals = q.functionTotals(windowS);
  const stByFn = q.series('function', windowS, bucketS);
  const stByEp = q.series('endpoint', windowS, bucketS);
  const stRollup = q.rollupState();
  const [fns, counts, totalRows, byFn, byEp, rollup] = await Promise.all([
    run<{ name: string; retry_policy: string; max_attempts: number | null }>(stFns),
    run<{ function: string; status: string; n: number }>(stCounts),
    run<Omit<SeriesRow, 't'>>(stTotals),
    run<SeriesRow>(stByFn),
    run<SeriesRow>(stByEp),
    run<{ last_id: string; updated_at: Date; behind: string }>(stRollup),
  ]);
  const behind = Number(rollup[0]?.behind ?? 0);
  const b = ctx.base;
  const names = [...new Set([...fns.map((f) => f.name), ...counts.map((c) => c.function)])].sort();
  const countOf = (fn: string, st: string) =>
    counts.find((c) => c.function === fn && c.status === st)?.n ?? 0;
  const totals = new Map(totalRows.map((r) => [r.key ?? '', r]));
  const body = html`
<form method="get" class="filters" action="${b}/functions" aria-label="Window">
<label>Window <select name="window">${Object.keys(STATS_WINDOWS).map((k) => html`<option${k === w ? html` selected` : ''}>${k}</option>`)}</select></label>
<button type="submit">Show</button>
</form>
<h2>Functions</h2>
${
  names.length === 0
    ? empty('No function is registered yet: start a worker.')
    : html`<div class="scroll"><table>
<thead><tr><th scope="col">Function</th><th scope="col">Policy</th>
<th scope="col">Pending</th><th scope="col">Retrying</th><th scope="col">Succeeded</th><th scope="col">Failed</th><th scope="col">Cancelled</th>
<th scope="col">Attempts</th><th scope="col">Errors</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th></tr></thead>
<tbody>${names.map((fn) => {
        const f = fns.find((x) => x.name === fn);
        const t = totals.get(fn);
        const link = (st: string) =>
          html`<a href="${b}/calls?function=${encodeURIComponent(fn)}&amp;status=${st}&amp;since=${w === '6h' ? '24h' : w}">${countOf(fn, st)}</a>`;
        return html`<tr><th scope="row"><a href="${b}/calls?function=${encodeURIComponent(fn)}">${fn}</a></th>
<td>${f?.retry_policy ?? ''}</td><td class="num">${link('pending')}</td><td class="num">${link('retrying')}</td>
<td class="num">${link('succeeded')}</td><td class="num">${link('failed')}</td><td class="num">${link('cancelled')}</td>
<td class="num">${t?.n ?? 0}</td><td class="num">${t?.errors ?? 0}</td>
<td class="num">${fmtMs(t?.p[0])}</td><td class="num">${fmtMs(t?.p[1])}</td><td class="num">${fmtMs(t?.p[2])}</td></tr>`;
      })}</tbody></table></div>
<p class="muted">Calls dispatched and attempts finished in the last ${w}; the charts show each ${bucketS < 3600 ? `${bucketS / 60} min` : `${bucketS / 3600} h`} of it.
Attempt counts and durations come from the per-minute rollup workers keep; percentiles are read from its histogram (within about 25%).${
        behind > 0 ? html` ${behind} recorded attempt(s) are not counted yet.` : ''
      }</p>`
}
${charts('function', 'Per function', byFn, bucketS)}
${charts('endpoint', 'Per endpoint', byEp, bucketS)}`;
  return layout(ctx, {
    title: 'Functions',
    section: 'functions',
    body,
    statements: [stFns, stCounts, stTotals, stByFn, stByEp, stRollup],
    charts: true,
  });
}

/** Chart data as JSON for the script, and the same numbers as a table without it. */
function charts(by: string, title: string, rows: SeriesRow[], bucketS: number) {
  if (rows.length === 0) return html`<h2>${title}</h2>${empty('No attempts in this window.')}`;
  const keys = [...new Set(rows.map((r) => r.key ?? ''))].sort();
  const times = [...new Set(rows.map((r) => r.t))].sort((a, b) => a - b);
  const at = (k: string, t: number) => rows.find((r) => (r.key ?? '') === k && r.t === t);
  const data = {
    bucketS,
    keys,
    times,
    rate: keys.map((k) => times.map((t) => (at(k, t)?.n ?? 0) / bucketS)),
    errors: keys.map((k) => times.map((t) => (at(k, t)?.errors ?? 0) / bucketS)),
    p50: keys.map((k) => times.map((t) => at(k, t)?.p[0] ?? null)),
    p95: keys.map((k) => times.map((t) => at(k, t)?.p[1] ?? null)),
    p99: keys.map((k) => times.map((t) => at(k, t)?.p[2] ?? null)),
  };
  // JSON inside <script> must not close it: escape '<'.
  const payload = JSON.stringify(data).replaceAll('<', '\\u003c');
  return html`<section class="charts" aria-label="${title}">
<h2>${title}</h2>
<script type="application/json" id="chart-${by}">${raw(payload)}</script>
<div class="chart-grid" data-chart="chart-${by}"></div>
<details><summary>Numbers</summary><div class="scroll"><table>
<thead><tr><th scope="col">Bucket</th><th scope="col">${by}</th><th scope="col">Attempts</th><th scope="col">Errors</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th></tr></thead>
<tbody>${rows.map(
    (r) => html`<tr><td>${new Date(r.t * 1000).toISOString().slice(11, 19)}</td><td>${r.key ?? ''}</td><td class="num">${r.n}</td><td class="num">${r.errors}</td>
<td class="num">${fmtMs(r.p[0])}</td><td class="num">${fmtMs(r.p[1])}</td><td class="num">${fmtMs(r.p[2])}</td></tr>`,
  )}</tbody></table></div></details>
</section>`;
}
