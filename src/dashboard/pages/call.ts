/** One call's whole story: dispatch, attempts, events, the policy, the next attempt. */
import { formatCompact } from '../../core/duration.js';
import { redactForDisplay, redactUrlsIn } from '../../core/redact.js';
import { type AttemptStatus, isRetryable } from '../../core/outcome.js';
import type { Runner } from '../db.js';
import { type Html, html } from '../html.js';
import {
  csrfField,
  fmtMs,
  json,
  layout,
  type PageContext,
  statusBadge,
  timeEl,
} from '../layout.js';
import type { DashboardQueries, Statement } from '../../observe/dashboard-statements.js';

type Row = Record<string, unknown>;

export async function callPage(
  ctx: PageContext,
  q: DashboardQueries,
  run: Runner,
  id: string,
): Promise<string | null> {
  const stCall = q.call(id);
  const [call] = await run(stCall);
  if (!call) return null;
  const stAttempts = q.attempts(id);
  const stEvents = q.events(id);
  const stPolicy = q.policy(String(call['retry_policy']));
  const input = call['input'] as Row | null;
  const endpointName =
    call['function'] === 'webhook' && input && typeof input['endpoint'] === 'string'
      ? input['endpoint']
      : undefined;
  const stEndpoint = endpointName ? q.endpoint(endpointName) : undefined;
  const [attempts, events, [policy], endpoint] = await Promise.all([
    run(stAttempts),
    run(stEvents),
    run(stPolicy),
    stEndpoint ? run(stEndpoint).then((r) => r[0]) : Promise.resolve(undefined),
  ]);
  const statements: Statement[] = [stCall, stAttempts, stEvents, stPolicy];
  if (stEndpoint) statements.push(stEndpoint);

  type Item = { at: number; order: number; html: Html };
  const items: Item[] = [
    {
      at: new Date(call['created_at'] as Date).getTime(),
      order: 0,
      html: html`<li class="ev dispatch"><span class="what">dispatched</span> ${timeEl(call['created_at'])}
<span class="muted">policy ${String(call['retry_policy'])}${call['max_attempts'] ? `, at most ${String(call['max_attempts'])} attempts` : ''}${call['idempotency_key'] ? `, idempotency key ${String(call['idempotency_key'])}` : ''}</span></li>`,
    },
  ];
  const headers = redactForDisplay({
    ...((endpoint?.['headers'] as object | undefined) ?? {}),
    ...((input?.['headers'] as object | undefined) ?? {}),
  }) as Record<string, unknown>;
  for (const a of attempts) {
    const resp = a['response'] as Row | null;
    items.push({
      at: new Date(a['finished_at'] as Date).getTime(),
      order: 1,
      html: html`<li class="ev attempt" data-attempt="${String(a['attempt'])}">
<span class="what">attempt ${String(a['attempt'])}</span> ${statusBadge(a['status'])}
${a['http_status'] !== null ? html`<span class="http">HTTP ${String(a['http_status'])}</span>` : ''}
<span class="dur">${fmtMs(a['duration_ms'])}</span> ${timeEl(a['finished_at'])}
<span class="muted">worker ${String(a['worker'] ?? '?')}</span>
${
  policy && isRetryable(a['status'] as AttemptStatus)
    ? html`<span class="muted policy-wait">policy ${String(policy['name'])} waits ${formatCompact(policyDelayMs(policy, Number(a['attempt'])))}${Number(policy['jitter']) ? ` ±${Math.round(Number(policy['jitter']) * 100)}%` : ''} after attempt ${String(a['attempt'])}</span>`
    : ''
}
${a['error'] ? html`<p class="err">${redactUrlsIn(String(a['error']))}</p>` : ''}
${
  call['function'] === 'webhook' && Object.keys(headers).length
    ? html`<details><summary>Request headers (secrets redacted)</summary><pre>${json(headers)}</pre></details>`
    : ''
}
${resp ? html`<details><summary>Response${resp['truncated'] ? ' (truncated)' : ''}</summary><pre>${json(redactForDisplay(resp))}</pre></details>` : ''}
</li>`,
    });
  }
  for (const e of events) {
    items.push({
      at: new Date(e['at'] as Date).getTime(),
      order: 2,
      html: html`<li class="ev event ${String(e['event'])}"><span class="what">${String(e['event'])}</span>
${e['status'] ? statusBadge(e['status']) : ''} ${timeEl(e['at'])}
${e['attempt'] !== null ? html`<span class="muted">attempt ${String(e['attempt'])}</span>` : ''}
${e['reason'] ? html`<span>${redactUrlsIn(String(e['reason']))}</span>` : ''}
${e['actor'] ? html`<span class="actor">by ${String(e['actor'])}</span>` : ''}</li>`,
    });
  }
  items.sort((a, b) => a.at - b.at || a.order - b.order);
  if (call['next_attempt_at'] && !call['finished_at']) {
    items.push({
      at: Number.POSITIVE_INFINITY,
      order: 3,
      html: html`<li class="ev next"><span class="what">next attempt</span> ${timeEl(call['next_attempt_at'])}
<span class="muted">attempt ${Number(call['attempts']) + 1}, scheduled by policy ${String(call['retry_policy'])}</span></li>`,
    });
  }

  const status = String(call['status']);
  const canRetry = (status === 'failed' || status === 'cancelled') && ctx.can('retry');
  const canCancel =
    (status === 'pending' || status === 'running' || status === 'retrying') && ctx.can('cancel');
  const b = ctx.base;
  const body = html`
<dl class="facts">
<dt>Function</dt><dd>${String(call['function'])}</dd>
<dt>Status</dt><dd>${statusBadge(status)}</dd>
<dt>Attempts</dt><dd>${String(call['attempts'])}</dd>
${endpointName ? html`<dt>Endpoint</dt><dd><a href="${b}/endpoints/${endpointName}">${endpointName}</a></dd>` : ''}
<dt>Dispatched</dt><dd>${timeEl(call['created_at'])}</dd>
<dt>Finished</dt><dd>${timeEl(call['finished_at'])}</dd>
${call['last_error'] ? html`<dt>Last error</dt><dd class="err">${redactUrlsIn(String(call['last_error']))}</dd>` : ''}
</dl>
${
  !(canRetry || canCancel)
    ? ''
    : html`<form method="post" class="actions" action="${b}/calls/${id}/${canRetry ? 'retry' : 'cancel'}">${csrfField(ctx)}
<button type="submit"${canCancel ? html` class="danger"` : ''}>${canRetry ? 'Retry' : 'Cancel'} this call</button></form>`
}
<h2>Timeline</h2>
<ol class="timeline">${items.map((i) => i.html)}</ol>
<div class="cols">
<section><h2>Input</h2><pre>${json(redactForDisplay(call['input']))}</pre></section>
${call['output'] !== null ? html`<section><h2>Output</h2><pre>${json(redactForDisplay(call['output']))}</pre></section>` : ''}
${
  policy
    ? html`<section><h2>Retry policy <a href="${b}/policies#policy-${String(policy['name'])}">${String(policy['name'])}</a></h2>
<p>${schedule(policy)}</p>${policy['description'] ? html`<p class="muted">${String(policy['description'])}</p>` : ''}</section>`
    : ''
}
</div>`;
  return layout(ctx, { title: `Call ${id}`, section: 'calls', body, statements });
}


/** The wait after failed attempt `n`, before jitter: what pgdispatch.retry_delay computes. */
export function policyDelayMs(p: Row, n: number): number {
  const delays = p['delays_ms'] as number[] | null;
  if (p['base_ms'] === null && delays?.length)
    return delays[Math.min(Math.max(n, 1), delays.length) - 1]!;
  const grown = Number(p['base_ms']) * Number(p['factor']) ** Math.min(Math.max(n - 1, 0), 64);
  return Math.min(Number(p['cap_ms']), grown);
}

export function schedule(p: Row): string {
  const ms = (k: string) => formatCompact(Number(p[k]));
  const delays = p['delays_ms'] as number[] | null;
  const kind =
    p['base_ms'] === null
      ? `waits ${(delays ?? []).map(formatCompact).join(', ')} (the last repeats)`
      : `exponential from ${ms('base_ms')}, ×${String(p['factor'])}, capped at ${ms('cap_ms')}`;
  const jitter = Number(p['jitter']) ? `, jitter ±${Math.round(Number(p['jitter']) * 100)}%` : '';
  const age = p['max_age_ms'] !== null ? `, no retry after ${ms('max_age_ms')}` : '';
  return `${kind}${jitter}; at most ${String(p['max_attempts'])} attempts${age}`;
}
