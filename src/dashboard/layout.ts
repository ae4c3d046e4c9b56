/** The page frame, formatting helpers and the "SQL behind this view" block. */
import { type Html, html } from './html.js';
import { inlineSql, type Statement } from '../observe/dashboard-statements.js';

export interface PageContext {
  /** Prefix of every link: the mount path, no trailing slash ('' at the root). */
  base: string;
  readOnly: boolean;
  /** Whether this request may do an action (false for all when read-only). */
  can(action: DashboardAction): boolean;
  /** Form field proving the POST comes from one of our pages. */
  csrf: string;
  actor: string;
}

/** What a POST can do, for `authorize` to allow one by one. */
export type DashboardAction = 'retry' | 'cancel' | 'bulk-retry' | 'bulk-cancel' | 'endpoint' | 'schedule';

const NAV = [
  ['calls', 'Calls'],
  ['functions', 'Functions'],
  ['endpoints', 'Endpoints'],
  ['workers', 'Workers'],
  ['schedules', 'Schedules'],
  ['policies', 'Retry policies'],
  ['live', 'Live'],
] as const;

export function layout(
  ctx: PageContext,
  page: { title: string; section: string; body: Html; statements?: Statement[]; charts?: boolean },
): string {
  const b = ctx.base;
  return `<!doctype html>${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>${page.title} · pgdispatch</title>
<link rel="stylesheet" href="${b}/assets/dashboard.css">
${page.charts ? html`<link rel="stylesheet" href="${b}/assets/uPlot.min.css"><script src="${b}/assets/uPlot.iife.min.js" defer></script>` : ''}
<script src="${b}/assets/dashboard.js" defer></script>
</head>
<body data-base="${b}">
<a class="skip" href="#main">Skip to content</a>
<header>
<nav aria-label="Sections">
<a class="brand" href="${b}/calls">pgdispatch</a>
${NAV.map(([href, label]) => html`<a href="${b}/${href}"${page.section === href ? html` aria-current="page"` : ''}>${label}</a>`)}
${ctx.readOnly ? html`<span class="badge ro" title="Actions are refused by the server">read-only</span>` : ''}
</nav>
</header>
<main id="main">
<h1>${page.title}</h1>
${page.body}
${page.statements?.length ? sqlBlock(page.statements) : ''}
</main>
</body>
</html>`}`;
}

/** The statements behind a view, written out to paste into psql. */
export function sqlBlock(statements: Statement[]): Html {
  return html`<section class="sql" aria-label="SQL behind this view">
<h2>SQL behind this view</h2>
${statements.map(
  (st, i) => html`<details>
<summary>${st.name}</summary>
<pre id="sql-${i}" data-sql>${inlineSql(st)};</pre>
<button type="button" class="copy" data-copy="sql-${i}" hidden>Copy</button>
</details>`,
)}
</section>`;
}

export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
}

export function fmtTime(v: unknown): string {
  if (v === null || v === undefined) return '';
  const d = v instanceof Date ? v : new Date(String(v));
  return `${d.toISOString().replace('T', ' ').slice(0, 23)}Z`;
}

export function timeEl(v: unknown): Html {
  if (v === null || v === undefined) return html`<span class="muted">–</span>`;
  const d = v instanceof Date ? v : new Date(String(v));
  return html`<time datetime="${d.toISOString()}" title="${ago(d)}">${fmtTime(d)}</time>`;
}

export function ago(d: Date): string {
  const s = (Date.now() - d.getTime()) / 1000;
  return s >= 0 ? `${fmtSeconds(s)} ago` : `in ${fmtSeconds(-s)}`;
}

export function fmtSeconds(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 129_600) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

export function fmtMs(ms: unknown): string {
  if (ms === null || ms === undefined) return '';
  const n = Number(ms);
  return n < 1000 ? `${n.toFixed(n < 10 ? 1 : 0)} ms` : `${(n / 1000).toFixed(2)} s`;
}

export function statusBadge(status: unknown): Html {
  const s = String(status ?? '');
  const kind =
    s === 'ok' || s === 'succeeded'
      ? 'good'
      : s === 'pending' || s === 'running' || s === 'retrying' || s === 'waiting' || s === 'suspended'
        ? 'wait'
        : s === 'cancelled'
          ? 'muted'
          : 'bad';
  return html`<span class="badge ${kind}">${s}</span>`;
}

export function json(v: unknown): string {
  return JSON.stringify(v, null, 2) ?? '';
}

export function empty(text: string): Html {
  return html`<p class="empty">${text}</p>`;
}
