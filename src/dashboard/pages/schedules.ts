/** Cron schedules: each row, its latest calls, enable and disable. */
import type { Runner } from '../db.js';
import { type Html, html } from '../html.js';
import { csrfField, empty, layout, type PageContext, statusBadge, timeEl } from '../layout.js';
import type { DashboardQueries, Statement } from '../../observe/dashboard-statements.js';
import { redactUrlsIn } from '../../core/redact.js';

type Row = Record<string, unknown>;

/** Calls shown per schedule. */
const RECENT = 5;

function state(s: Row): Html {
  if (s['error'] !== null) return html`<span class="badge bad">error</span>`;
  if (!s['enabled']) return html`<span class="badge muted">disabled</span>`;
  return html`<span class="badge good">enabled</span>`;
}

export async function schedulesPage(
  ctx: PageContext,
  q: DashboardQueries,
  run: Runner,
  notice?: string,
): Promise<string> {
  const st = q.schedules();
  const rows = await run(st);
  const statements: Statement[] = [st];
  const recent = new Map<string, Row[]>();
  for (const s of rows) {
    const stCalls = q.scheduleCalls(String(s['name']), String(s['function']), RECENT);
    // The walk of the function's calls is bounded: a schedule whose calls are
    // rare among its function's shows none rather than slowing the page.
    recent.set(String(s['name']), (await run.soft(stCalls, 500)) ?? []);
    if (statements.length < 4) statements.push(stCalls);
  }
  const b = ctx.base;
  const toggle = (s: Row) => {
    if (!ctx.can('schedule')) return '';
    const name = String(s['name']);
    const enable = !s['enabled'];
    return html`<form method="post" action="${b}/schedules/${encodeURIComponent(name)}/${enable ? 'enable' : 'disable'}">${csrfField(ctx)}<button type="submit"${enable ? '' : html` class="danger"`}>${enable ? 'Enable' : 'Disable'}</button></form>`;
  };
  const body = html`${notice ? html`<p role="status" class="notice">${notice}</p>` : ''}
<p class="muted">Edit a schedule with plain SQL or <code>pgdispatch schedules</code>; a change applies from the next tick. Workers compute the next tick.</p>
${
  rows.length === 0
    ? empty('No schedules.')
    : html`<div class="scroll"><table class="schedules">
<thead><tr><th scope="col">Schedule</th><th scope="col">Function</th><th scope="col">Cron</th><th scope="col">Time zone</th><th scope="col">State</th><th scope="col">Next tick</th><th scope="col">Last tick</th><th scope="col">Recent calls</th><th scope="col">Error</th><th scope="col">Changed by</th>${ctx.can('schedule') ? html`<th scope="col">Action</th>` : ''}</tr></thead>
<tbody>${rows.map(
        (s) => html`<tr id="schedule-${String(s['name'])}" data-schedule="${String(s['name'])}" data-enabled="${String(s['enabled'])}"><th scope="row">${String(s['name'])}${s['description'] ? html`<br><span class="muted">${String(s['description'])}</span>` : ''}</th>
<td>${String(s['function'])}</td><td><code>${String(s['cron'])}</code></td><td>${String(s['timezone'])}</td><td>${state(s)}</td>
<td>${timeEl(s['next_tick'])}</td><td>${timeEl(s['last_tick'])}${s['last_call_id'] !== null ? html` <a href="${b}/calls/${String(s['last_call_id'])}">call ${String(s['last_call_id'])}</a>` : ''}</td>
<td>${recentCalls(recent.get(String(s['name'])) ?? [], b)}</td>
<td>${s['error'] !== null ? html`<span class="err">${redactUrlsIn(String(s['error']))}</span>` : ''}</td>
<td>${s['changed_by'] !== null ? html`<span class="actor">${String(s['changed_by'])}</span>` : html`<span class="muted">–</span>`}</td>
${ctx.can('schedule') ? html`<td>${toggle(s)}</td>` : ''}</tr>`,
      )}</tbody></table></div>`
}`;
  return layout(ctx, { title: 'Schedules', section: 'schedules', body, statements });
}

function recentCalls(calls: Row[], b: string): Html {
  if (calls.length === 0) return html`<span class="muted">–</span>`;
  return html`<ul class="recent">${calls.map(
    (c) => html`<li><a href="${b}/calls/${String(c['id'])}">${String(c['id'])}</a> ${statusBadge(c['status'])}</li>`,
  )}</ul>`;
}
