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
  const stSteps = q.steps(id);
  const stChildren = q.children(id, CHILDREN_SHOWN);
  const unfinished = call['finished_at'] === null;
  const stWaits = unfinished ? q.callWaits(id) : undefined;
  const [attempts, events, [policy], endpoint, steps, children, waits] = await Promise.all([
    run(stAttempts),
    run(stEvents),
    run(stPolicy),
    stEndpoint ? run(stEndpoint).then((r) => r[0]) : Promise.resolve(undefined),
    run(stSteps),
    run(stChildren),
    stWaits ? run(stWaits) : Promise.resolve([]),
  ]);
  const statements: Statement[] = [stCall, stAttempts, stEvents, stPolicy];
  if (stEndpoint) statements.push(stEndpoint);
  statements.push(stSteps, stChildren);
  if (stWaits) statements.push(stWaits);

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
    const { request, ...kept } = (a['response'] as Row | null) ?? {};
    // The headers the attempt sent, kept with it; else, for attempts recorded
    // without them, the ones its endpoint and input configure.
    const sent = (request as Row | undefined)?.['headers'] as Record<string, unknown> | undefined;
    const resp = Object.keys(kept).length ? kept : null;
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
${a['error'] ? html`<p class="${a['status'] === 'suspended' ? 'muted' : 'err'}">${redactUrlsIn(String(a['error']))}</p>` : ''}
${
  sent
    ? html`<details class="request-headers"><summary>Request headers sent (secrets redacted)</summary><pre>${json(redactForDisplay(sent))}</pre></details>`
    : call['function'] === 'webhook' && Object.keys(headers).length
      ? html`<details><summary>Request headers configured (secrets redacted)</summary><pre>${json(headers)}</pre></details>`
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
      html:
        call['status'] === 'waiting'
          ? html`<li class="ev next"><span class="what">wake-up</span> ${timeEl(call['next_attempt_at'])}
<span class="muted">attempt ${Number(call['attempts']) + 1} at the latest, when its wait times out; sooner once what it waits for arrives</span></li>`
          : html`<li class="ev next"><span class="what">next attempt</span> ${timeEl(call['next_attempt_at'])}
<span class="muted">attempt ${Number(call['attempts']) + 1}, scheduled by policy ${String(call['retry_policy'])}</span></li>`,
    });
  }

  const status = String(call['status']);
  const b0 = ctx.base;
  const waitingFor: Html[] = waits.map(
    (w) => html`<li class="wait" data-wait="${String(w['reason'])}">${String(w['detail'])}${w['until'] ? html` (until ${timeEl(w['until'])})` : ''}</li>`,
  );
  if (status === 'waiting') {
    for (const st of steps) {
      if (st['status'] !== 'waiting' && st['status'] !== 'retrying') continue;
      waitingFor.push(html`<li class="wait" data-wait="step">${stepWait(st, b0)}</li>`);
    }
  }
  const canRetry = (status === 'failed' || status === 'cancelled') && ctx.can('retry');
  const canCancel =
    (status === 'pending' || status === 'running' || status === 'retrying' || status === 'waiting') &&
    ctx.can('cancel');
  const b = ctx.base;
  const body = html`
<dl class="facts">
<dt>Function</dt><dd>${String(call['function'])}</dd>
<dt>Status</dt><dd>${statusBadge(status)}</dd>
<dt>Attempts</dt><dd>${String(call['attempts'])}</dd>
${call['parent_call_id'] !== null ? html`<dt>Parent</dt><dd><a class="parent" href="${b}/calls/${String(call['parent_call_id'])}">call ${String(call['parent_call_id'])}</a></dd>` : ''}
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
${waitingFor.length ? html`<section class="waits" aria-label="What it waits for"><h2>Waiting for</h2><ul>${waitingFor}</ul></section>` : ''}
<h2>Timeline</h2>
<ol class="timeline">${items.map((i) => i.html)}</ol>
${steps.length ? stepsTable(steps, b) : ''}
${children.length ? childrenTable(children, b) : ''}
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

/** Children listed on a workflow's page; the calls list filtered by parent is not a filter yet. */
const CHILDREN_SHOWN = 200;

function stepWait(st: Row, b: string): Html {
  const name = String(st['name']);
  if (st['status'] === 'retrying')
    return html`step ${name} retries ${st['wake_at'] ? timeEl(st['wake_at']) : 'soon'}`;
  if (st['kind'] === 'sleep') return html`sleep ${name} until ${timeEl(st['wake_at'])}`;
  if (st['kind'] === 'wait')
    return html`signal <code>${String(st['signal_key'])}</code> (step ${name})${st['wake_at'] ? html`, times out ${timeEl(st['wake_at'])}` : ''}`;
  if (st['kind'] === 'call' && st['child_call_id'] !== null)
    return html`child <a href="${b}/calls/${String(st['child_call_id'])}">call ${String(st['child_call_id'])}</a> (step ${name})`;
  return html`step ${name} (${String(st['kind'])})`;
}

function stepsTable(steps: Row[], b: string): Html {
  return html`<h2>Workflow steps</h2>
<div class="scroll"><table class="steps">
<thead><tr><th scope="col">#</th><th scope="col">Step</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Runs</th><th scope="col">Started</th><th scope="col">Finished</th><th scope="col">Wakes</th><th scope="col">Signal</th><th scope="col">Child</th><th scope="col">Output or error</th></tr></thead>
<tbody>${steps.map(
    (st) => html`<tr data-seq="${String(st['seq'])}"><td class="num">${String(st['seq'])}</td><th scope="row">${String(st['name'])}</th><td>${String(st['kind'])}</td>
<td>${statusBadge(st['status'])}</td><td class="num">${String(st['attempts'])}</td><td>${timeEl(st['started_at'])}</td><td>${timeEl(st['finished_at'])}</td>
<td>${timeEl(st['wake_at'])}</td><td>${st['signal_key'] !== null ? html`<code>${String(st['signal_key'])}</code>` : ''}</td>
<td>${st['child_call_id'] !== null ? html`<a href="${b}/calls/${String(st['child_call_id'])}">${String(st['child_call_id'])}</a>` : ''}</td>
<td>${st['error'] ? html`<span class="err">${redactUrlsIn(String(st['error']))}</span>` : st['output'] !== null ? html`<details><summary>output</summary><pre>${json(redactForDisplay(st['output']))}</pre></details>` : ''}</td></tr>`,
  )}</tbody></table></div>`;
}

function childrenTable(children: Row[], b: string): Html {
  return html`<h2>Child calls</h2>
<div class="scroll"><table class="children">
<thead><tr><th scope="col">Call</th><th scope="col">Function</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Dispatched</th><th scope="col">Finished</th></tr></thead>
<tbody>${children.map(
    (c) => html`<tr data-child="${String(c['id'])}"><th scope="row"><a href="${b}/calls/${String(c['id'])}">${String(c['id'])}</a></th><td>${String(c['function'])}</td>
<td>${statusBadge(c['status'])}</td><td class="num">${String(c['attempts'])}</td><td>${timeEl(c['created_at'])}</td><td>${timeEl(c['finished_at'])}</td></tr>`,
  )}</tbody></table>${children.length >= CHILDREN_SHOWN ? html`<p class="muted">The first ${CHILDREN_SHOWN} children.</p>` : ''}</div>`;
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
