/** Webhook endpoints: health, failing since, the auto-disable countdown, actions. */
import type { Runner } from '../db.js';
import { html } from '../html.js';
import {
  csrfField,
  empty,
  fmtSeconds,
  json,
  layout,
  type PageContext,
  timeEl,
} from '../layout.js';
import type { DashboardQueries } from '../../observe/dashboard-statements.js';
import { redactForDisplay, redactUrlsIn } from '../../core/redact.js';

type Row = Record<string, unknown>;

function health(e: Row) {
  if (!e['enabled']) return html`<span class="badge bad">disabled</span>`;
  if (e['failing_since']) return html`<span class="badge wait">failing</span>`;
  return html`<span class="badge good">healthy</span>`;
}

function countdown(e: Row) {
  if (!e['enabled'] || !e['failing_since']) return html`<span class="muted">–</span>`;
  const s = Number(e['disable_in_s']);
  return s > 0
    ? html`<span class="countdown">disabled in ${fmtSeconds(s)}</span>`
    : html`<span class="countdown">disabled at its next failure</span>`;
}

export async function endpointsPage(ctx: PageContext, q: DashboardQueries, run: Runner) {
  const st = q.endpoints();
  const stLimits = q.endpointConcurrency();
  const [rows, limitRows] = await Promise.all([run(st), run(stLimits)]);
  const limits = new Map(limitRows.map((l) => [String(l['endpoint']), l]));
  const b = ctx.base;
  const body =
    rows.length === 0
      ? empty('No endpoints. Add one with `pgdispatch endpoints add`.')
      : html`<div class="scroll"><table>
<thead><tr><th scope="col">Endpoint</th><th scope="col">URL</th><th scope="col">Health</th><th scope="col">Adaptive limit</th><th scope="col">Failing since</th><th scope="col">Auto-disable</th><th scope="col">Last success</th><th scope="col">Last failure</th><th scope="col">Secrets</th></tr></thead>
<tbody>${rows.map(
          (e) => html`<tr><th scope="row"><a href="${b}/endpoints/${String(e['name'])}">${String(e['name'])}</a></th>
<td class="url">${redactUrlsIn(String(e['url']))}</td><td>${health(e)}</td><td class="num">${limitCell(limits.get(String(e['name'])))}</td><td>${timeEl(e['failing_since'])}</td><td>${countdown(e)}</td>
<td>${timeEl(e['last_success_at'])}</td><td>${timeEl(e['last_failure_at'])}</td><td class="num">${String(e['secrets'])}</td></tr>`,
        )}</tbody></table></div>
<p class="muted">Adaptive limit: requests in flight to the endpoint's origin across all workers, and its bound; – where no worker has reported for the origin yet.</p>`;
  return layout(ctx, { title: 'Endpoints', section: 'endpoints', body, statements: [st, stLimits] });
}

export async function endpointPage(
  ctx: PageContext,
  q: DashboardQueries,
  run: Runner,
  name: string,
  notice?: string,
) {
  const st = q.endpoint(name);
  const stLimit = q.endpointConcurrencyOf(name);
  const [[e], [limit]] = await Promise.all([run(st), run(stLimit)]);
  if (!e) return null;
  const statements = [st, stLimit];
  let changes: Row[] = [];
  if (limit) {
    const stChanges = q.concurrencyChanges(String(limit['origin']), 20);
    changes = await run(stChanges);
    statements.push(stChanges);
  }
  const b = ctx.base;
  const action = (path: string, label: string, extra = html``, cls = '') =>
    html`<form method="post" action="${b}/endpoints/${name}/${path}">${csrfField(ctx)}${extra}<button type="submit"${cls ? html` class="${cls}"` : ''}>${label}</button></form>`;
  const body = html`
${notice ? html`<p role="status" class="notice">${notice}</p>` : ''}
<dl class="facts">
<dt>URL</dt><dd class="url">${redactUrlsIn(String(e['url']))}</dd>
<dt>Health</dt><dd>${health(e)}</dd>
${e['disabled_reason'] ? html`<dt>Disabled because</dt><dd>${String(e['disabled_reason'])}</dd>` : ''}
<dt>Failing since</dt><dd>${timeEl(e['failing_since'])}</dd>
<dt>Auto-disable</dt><dd>${countdown(e)} <span class="muted">(after failing for ${String(e['disable_after'])})</span></dd>
<dt>Last success</dt><dd>${timeEl(e['last_success_at'])}</dd>
<dt>Last failure</dt><dd>${timeEl(e['last_failure_at'])}</dd>
<dt>Retry policy</dt><dd><a href="${b}/policies#policy-${String(e['retry_policy'])}">${String(e['retry_policy'])}</a></dd>
<dt>Signing secrets</dt><dd>${String(e['secrets'])} <span class="muted">(never shown)</span></dd>
<dt>Calls</dt><dd><a href="${b}/calls?function=webhook&amp;endpoint=${encodeURIComponent(name)}">all</a> ·
<a href="${b}/calls?function=webhook&amp;endpoint=${encodeURIComponent(name)}&amp;status=failed">failed</a></dd>
</dl>
${limit ? concurrencySection(limit, changes) : ''}
<h2>Static headers</h2><pre>${json(redactForDisplay(e['headers']))}</pre>
${
  !ctx.can('endpoint')
    ? ''
    : html`<h2>Actions</h2><div class="actions">
${
  e['enabled']
    ? action('disable', 'Disable', html``, 'danger')
    : action(
        'enable',
        'Enable',
        html`<label><input type="checkbox" name="replay" value="yes"> and replay the calls that failed since it was disabled</label> `,
      )
}
${action('rotate', 'Rotate secret')}
${Number(e['secrets']) > 1 ? action('drop-secrets', 'Drop previous secrets', html``, 'danger') : ''}
</div>`
}`;
  return layout(ctx, { title: `Endpoint ${name}`, section: 'endpoints', body, statements });
}

function limitCell(l: Row | undefined) {
  if (!l) return html`<span class="muted">–</span>`;
  return html`<span class="limit">${String(l['concurrency_limit'])}</span> <span class="muted">of ${String(l['max_limit'])}</span>`;
}

function concurrencySection(l: Row, changes: Row[]) {
  return html`<h2>Adaptive concurrency</h2>
<dl class="facts">
<dt>Origin</dt><dd class="url">${String(l['origin'])}</dd>
<dt>Limit now</dt><dd><span class="limit">${String(l['concurrency_limit'])}</span> in flight across all workers, at most ${String(l['max_limit'])}${l['max_concurrency'] !== null ? html` <span class="muted">(max_concurrency ${String(l['max_concurrency'])})</span>` : ''}</dd>
<dt>Raised / halved</dt><dd>${String(l['increases'])} / ${String(l['decreases'])} times</dd>
<dt>Updated</dt><dd>${timeEl(l['updated_at'])}</dd>
</dl>
${
  changes.length === 0
    ? empty('No change of the limit recorded yet.')
    : html`<div class="scroll"><table class="limit-changes">
<thead><tr><th scope="col">At</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Why</th></tr></thead>
<tbody>${changes.map(
        (c) => html`<tr><td>${timeEl(c['at'])}</td><td class="num">${String(c['from_limit'])}</td><td class="num">${String(c['to_limit'])}</td><td>${String(c['reason'])}</td></tr>`,
      )}</tbody></table></div>`
}`;
}
