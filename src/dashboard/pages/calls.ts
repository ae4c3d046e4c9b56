/** The calls list (filters in the query string, keyset pages) and bulk actions. */
import { CALL_STATUSES } from '../../core/outcome.js';
import { redactUrlsIn } from '../../core/redact.js';
import type { Runner } from '../db.js';
import { html } from '../html.js';
import { csrfField, empty, layout, type PageContext, statusBadge, timeEl } from '../layout.js';
import { COUNT_CAP, type CallsFilter, type DashboardQueries } from '../../observe/dashboard-statements.js';

export const PAGE_SIZE = 50;
/** A count that takes longer gives up, and the list shows without it. */
export const COUNT_TIMEOUT_MS = 1000;

export const WINDOWS: Record<string, number> = {
  '15m': 900,
  '1h': 3600,
  '24h': 86_400,
  '7d': 604_800,
  '30d': 2_592_000,
};

export class BadRequest extends Error {}

/** The filter a query string (or a bulk form) describes. */
export function parseFilter(p: URLSearchParams): CallsFilter {
  const f: CallsFilter = {};
  const statuses = p.getAll('status').flatMap((s) => s.split(',')).filter(Boolean);
  for (const s of statuses)
    if (!(CALL_STATUSES as readonly string[]).includes(s)) throw new BadRequest(`unknown status ${s}`);
  if (statuses.length) f.statuses = statuses;
  const fn = p.get('function');
  if (fn) f.function = fn;
  const ep = p.get('endpoint');
  if (ep) f.endpoint = ep;
  const http = p.get('http_status');
  if (http) {
    if (!/^\d{3}$/.test(http)) throw new BadRequest('http_status must be a 3-digit number');
    f.httpStatus = Number(http);
  }
  const since = p.get('since');
  if (since) {
    const s = WINDOWS[since];
    if (s === undefined) throw new BadRequest(`since must be one of ${Object.keys(WINDOWS).join(', ')}`);
    f.sinceS = s;
  }
  const input = p.get('input');
  if (input) {
    try {
      f.input = JSON.parse(input);
    } catch {
      throw new BadRequest('input must be JSON, for example {"endpoint":"orders"}');
    }
  }
  const before = p.get('before');
  if (before) {
    if (!/^\d{1,19}$/.test(before)) throw new BadRequest('before must be a call id');
    f.before = before;
  }
  return f;
}

/** The query string of a filter, minus the page cursor. */
export function filterQuery(p: URLSearchParams, extra: Record<string, string> = {}): string {
  const out = new URLSearchParams();
  for (const [k, v] of p) if (k !== 'before' && v !== '') out.append(k, v);
  for (const [k, v] of Object.entries(extra)) out.set(k, v);
  const s = out.toString();
  return s ? `?${s}` : '';
}

export async function callsPage(
  ctx: PageContext,
  q: DashboardQueries,
  run: Runner,
  params: URLSearchParams,
): Promise<string> {
  const f = parseFilter(params);
  const list = q.listCalls(f, PAGE_SIZE);
  const { before: _before, ...countFilter } = f;
  const count = q.countCalls(countFilter);
  const fns = q.functions();
  const [rows, counted, functions] = await Promise.all([
    run(list),
    run.soft<{ n: number }>(count, COUNT_TIMEOUT_MS),
    run<{ name: string }>(fns),
  ]);
  const n = counted?.[0]?.n;
  const total =
    n === undefined
      ? 'Many'
      : n > COUNT_CAP
        ? `${COUNT_CAP.toLocaleString('en')}+`
        : n.toLocaleString('en');
  const last = rows[rows.length - 1] as { id: string } | undefined;
  const b = ctx.base;
  const sel = (name: string, v: string) => (params.getAll(name).includes(v) ? html` selected` : '');
  const checked = (v: string) =>
    params
      .getAll('status')
      .flatMap((s) => s.split(','))
      .includes(v)
      ? html` checked`
      : '';
  const body = html`
<form class="filters" method="get" action="${b}/calls" role="search" aria-label="Filter calls">
<fieldset><legend>Status</legend>
${CALL_STATUSES.map((s) => html`<label><input type="checkbox" name="status" value="${s}"${checked(s)}> ${s}</label>`)}
</fieldset>
<label>Function <select name="function"><option value="">any</option>
${functions.map((fn) => html`<option${sel('function', fn.name)}>${fn.name}</option>`)}
</select></label>
<label>Endpoint <input name="endpoint" value="${params.get('endpoint') ?? ''}" size="12"></label>
<label>HTTP status <input name="http_status" value="${params.get('http_status') ?? ''}" inputmode="numeric" size="4" pattern="[0-9]{3}"></label>
<label>Dispatched <select name="since"><option value="">any time</option>
${Object.keys(WINDOWS).map((w) => html`<option value="${w}"${sel('since', w)}>last ${w}</option>`)}
</select></label>
<label class="wide">Input contains (JSON) <input name="input" value="${params.get('input') ?? ''}" placeholder='{"endpoint":"orders"}' size="28"></label>
<button type="submit">Filter</button>
<a href="${b}/calls">Clear</a>
</form>
<p class="count" data-count="${n ?? ''}"><strong>${total}</strong> calls match${n === undefined ? html` <span class="muted">(counting took over ${COUNT_TIMEOUT_MS / 1000} s: a time window makes it cheap)</span>` : ''}</p>
${
  rows.length === 0
    ? empty('No calls match.')
    : html`<div class="scroll"><table class="calls">
<thead><tr><th scope="col">Id</th><th scope="col">Function</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Endpoint</th><th scope="col">Dispatched</th><th scope="col">Next attempt</th><th scope="col">Finished</th><th scope="col">Last error</th></tr></thead>
<tbody>
${rows.map((r) => {
  const c = r as Record<string, unknown>;
  return html`<tr data-id="${String(c['id'])}"><td><a href="${b}/calls/${String(c['id'])}">${String(c['id'])}</a></td>
<td>${String(c['function'])}</td><td>${statusBadge(c['status'])}</td><td class="num">${String(c['attempts'])}</td>
<td>${c['endpoint'] ? html`<a href="${b}/endpoints/${String(c['endpoint'])}">${String(c['endpoint'])}</a>` : ''}</td>
<td>${timeEl(c['created_at'])}</td><td>${timeEl(c['next_attempt_at'])}</td><td>${timeEl(c['finished_at'])}</td>
<td class="err">${redactUrlsIn(String(c['last_error'] ?? ''))}</td></tr>`;
})}
</tbody></table></div>`
}
<nav class="pager" aria-label="Pages">
${f.before ? html`<a href="${b}/calls${filterQuery(params)}">Newest</a>` : ''}
${rows.length === PAGE_SIZE && last ? html`<a rel="next" href="${b}/calls${filterQuery(params, { before: last.id })}">Older</a>` : ''}
</nav>
${ctx.can('bulk-retry') || ctx.can('bulk-cancel') ? bulkForms(ctx, params) : ''}`;
  return layout(ctx, { title: 'Calls', section: 'calls', body, statements: [list, count, fns] });
}

function hiddenFilter(params: URLSearchParams) {
  return [...params]
    .filter(([k, v]) => k !== 'before' && v !== '')
    .map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
}

function bulkForms(ctx: PageContext, params: URLSearchParams) {
  return html`<section class="bulk" aria-label="Bulk actions">
<h2>Every call matching this filter</h2>
<p class="muted">Each button first shows how many calls it would change.</p>
<form method="post" action="${ctx.base}/calls/bulk">${csrfField(ctx)}${hiddenFilter(params)}
${ctx.can('bulk-retry') ? html`<button name="action" value="retry">Retry the failed and cancelled ones…</button>` : ''}
${ctx.can('bulk-cancel') ? html`<button name="action" value="cancel">Cancel the pending and retrying ones…</button>` : ''}
</form>
</section>`;
}

export const BULK_STATUSES: Record<'retry' | 'cancel', string[]> = {
  retry: ['failed', 'cancelled'],
  cancel: ['pending', 'running', 'retrying'],
};

/** The statuses a bulk action touches: the filter's, within what the action can change. */
export function bulkStatuses(action: 'retry' | 'cancel', f: CallsFilter): string[] {
  const allowed = BULK_STATUSES[action];
  return f.statuses ? f.statuses.filter((s) => allowed.includes(s)) : allowed;
}

export function bulkConfirmPage(
  ctx: PageContext,
  action: 'retry' | 'cancel',
  form: URLSearchParams,
  n: number,
  upto: string,
  statements: Parameters<typeof layout>[1]['statements'],
): string {
  const total = n > COUNT_CAP ? `more than ${COUNT_CAP.toLocaleString('en')}` : n.toLocaleString('en');
  const filter = new URLSearchParams([...form].filter(([k]) => !k.startsWith('_') && k !== 'action'));
  const body = html`<p class="dry-run" data-count="${n}">Dry run: this would ${action} <strong>${total}</strong> calls (ids up to ${upto}).</p>
<form method="post" action="${ctx.base}/calls/bulk">${csrfField(ctx)}${hiddenFilter(filter)}
<input type="hidden" name="upto" value="${upto}">
<input type="hidden" name="confirm" value="yes">
<button name="action" value="${action}" class="danger"${n === 0 ? html` disabled` : ''}>${action === 'retry' ? 'Retry' : 'Cancel'} them</button>
<a href="${ctx.base}/calls${filterQuery(filter)}">Back to the list</a>
</form>`;
  return layout(ctx, {
    title: `Bulk ${action}`,
    section: 'calls',
    body,
    ...(statements ? { statements } : {}),
  });
}

export function bulkDonePage(
  ctx: PageContext,
  action: string,
  changed: number,
  form: URLSearchParams,
): string {
  const filter = new URLSearchParams(
    [...form].filter(([k]) => !k.startsWith('_') && !['action', 'upto', 'confirm'].includes(k)),
  );
  const body = html`<p role="status" data-changed="${changed}">${action === 'retry' ? 'Retried' : 'Cancelled'} ${changed.toLocaleString('en')} calls.</p>
<p><a href="${ctx.base}/calls${filterQuery(filter)}">Back to the list</a></p>`;
  return layout(ctx, { title: `Bulk ${action}`, section: 'calls', body });
}
