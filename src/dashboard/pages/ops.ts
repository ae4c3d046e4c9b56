/** Workers and retry policies. */
import type { Runner } from '../db.js';
import { html } from '../html.js';
import { empty, fmtSeconds, layout, type PageContext, timeEl } from '../layout.js';
import type { DashboardQueries } from '../../observe/dashboard-statements.js';
import { schedule } from './call.js';

export async function workersPage(
  ctx: PageContext,
  q: DashboardQueries,
  run: Runner,
  lostAfterS: number,
) {
  const st = q.workers(lostAfterS);
  const rows = await run(st);
  const body =
    rows.length === 0
      ? empty('No worker is running.')
      : html`<div class="scroll"><table>
<thead><tr><th scope="col">Worker</th><th scope="col">Host</th><th scope="col">PID</th><th scope="col">State</th><th scope="col">Heartbeat</th><th scope="col">In flight</th><th scope="col">Concurrency</th><th scope="col">Started</th><th scope="col">Functions</th></tr></thead>
<tbody>${rows.map(
          (w) => html`<tr><th scope="row"><code>${String(w['id'])}</code></th><td>${String(w['host'])}</td><td class="num">${String(w['pid'])}</td>
<td>${w['lost'] ? html`<span class="badge bad">lost</span>` : html`<span class="badge good">alive</span>`}</td>
<td>${fmtSeconds(Number(w['heartbeat_age_s']))} ago</td><td class="num">${String(w['in_flight'])}</td><td class="num">${String(w['concurrency'])}</td>
<td>${timeEl(w['started_at'])}</td><td>${(w['functions'] as string[]).join(', ')}</td></tr>`,
        )}</tbody></table></div>
<p class="muted">A worker is lost when its heartbeat is older than ${lostAfterS} s; the next rescue gives its calls back.</p>`;
  return layout(ctx, { title: 'Workers', section: 'workers', body, statements: [st] });
}

export async function policiesPage(ctx: PageContext, q: DashboardQueries, run: Runner) {
  const st = q.policies();
  const rows = await run(st);
  const body = html`<p class="muted">Edit a policy with plain SQL; the next attempt of every call in flight follows the new row.</p>
${
  rows.length === 0
    ? empty('No retry policies.')
    : html`<div class="scroll"><table>
<thead><tr><th scope="col">Policy</th><th scope="col">Schedule</th><th scope="col">Functions</th><th scope="col">Endpoints</th><th scope="col">Updated</th></tr></thead>
<tbody>${rows.map(
        (p) => html`<tr id="policy-${String(p['name'])}"><th scope="row">${String(p['name'])}</th>
<td>${schedule(p)}${p['description'] ? html`<br><span class="muted">${String(p['description'])}</span>` : ''}</td>
<td class="num">${String(p['functions'])}</td><td class="num">${String(p['endpoints'])}</td><td>${timeEl(p['updated_at'])}</td></tr>`,
      )}</tbody></table></div>`
}`;
  return layout(ctx, { title: 'Retry policies', section: 'policies', body, statements: [st] });
}

export function livePage(ctx: PageContext, q: DashboardQueries) {
  const st = q.tail('0', 500);
  const body = html`<p class="muted">Attempts as workers record them. Needs JavaScript; without it, <a href="${ctx.base}/calls">the calls list</a> shows the same data.</p>
<p id="live-state" role="status" aria-live="polite">Connecting…</p>
<div class="scroll"><table class="live">
<thead><tr><th scope="col">Attempt id</th><th scope="col">Call</th><th scope="col">Function</th><th scope="col">Attempt</th><th scope="col">Outcome</th><th scope="col">HTTP</th><th scope="col">Duration</th><th scope="col">Finished</th><th scope="col">Error</th></tr></thead>
<tbody id="live-rows" data-stream="${ctx.base}/live/events"></tbody></table></div>`;
  return layout(ctx, { title: 'Live', section: 'live', body, statements: [st] });
}
