/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard's views of workflows, flow control, schedules and adaptive
 * concurrency, in a real Chromium, checked against their rows: a workflow
 * run by a real worker until it waits for a signal, a call waiting for a
 * concurrency slot, schedules enabled and disabled with the actor recorded
 * (and refused when read-only), an origin's limit and its changes.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard, type WorkerHandle } from '../../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { haveChromium, launchBrowser } from './browser.js';
import { seed } from './seed.js';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let db: TestDatabase;
let browser: Browser;
const servers: Server[] = [];
const dashboards: Dashboard[] = [];

async function serve(options: Parameters<typeof createDashboard>[0]): Promise<string> {
  const d = createDashboard({ pool: db.pool, ...options });
  dashboards.push(d);
  const server = createServer(d.node);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function strictPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
  });
  return { page, problems };
}

describe.skipIf(!haveChromium)('dashboard views of workflows, schedules and limits', () => {
  let url: string;
  let dispatch: ReturnType<TestDatabase['dispatch']>;
  let worker: WorkerHandle | undefined;
  let workflowId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await seed(db.pool, 300);
    browser = await launchBrowser();
    url = await serve({ authorize: () => ({ actor: 'alice@example.com' }) });
    dispatch = db.dispatch();
    const child = dispatch.func('enrich', (input: { n: number }) => ({ doubled: input.n * 2 }));
    const flow = dispatch.workflow('onboard', async (input: { n: number }, ctx) => {
      await ctx.step('fetch', () => ({ apiToken: 'tok_hidden_123', n: input.n }));
      await ctx.call(child, { n: input.n });
      return ctx.waitFor('approved', { key: `onboard:${input.n}`, timeoutMs: 86_400_000 });
    });
    worker = await dispatch.worker({ concurrency: 2, pollIntervalMs: 50, schedules: false });
    workflowId = await flow.dispatch({ n: 7 });
    await eventually(
      async () =>
        (await db.pool.query(
          `select 1 from pgdispatch.steps where call_id = $1 and kind = 'wait' and status = 'waiting'`,
          [workflowId],
        )).rowCount === 1,
      { timeoutMs: 20_000, message: 'the workflow never reached its wait' },
    );
    await worker.stop();
    worker = undefined;
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await browser?.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await Promise.all(dashboards.map((d) => d.close()));
    await dispatch?.close();
    await db?.drop();
  });

  it("a workflow's timeline shows its step rows, its child linked both ways, and the signal it waits for", async () => {
    const context = await browser.newContext();
    const { page, problems } = await strictPage(context);
    await page.goto(`${url}/calls/${workflowId}`);
    const { rows: steps } = await db.pool.query(
      `select seq, name, kind, status, attempts, child_call_id::text as child, signal_key
         from pgdispatch.steps where call_id = $1 order by seq`,
      [workflowId],
    );
    expect(steps.map((s) => s.kind)).toEqual(['step', 'call', 'wait']);
    const shown = page.locator('table.steps tbody tr');
    await expect(shown.count()).resolves.toBe(steps.length);
    for (const [i, s] of steps.entries()) {
      const row = shown.nth(i);
      await expect(row.getAttribute('data-seq')).resolves.toBe(String(s.seq));
      const cells = await row.locator('th, td').allTextContents();
      expect(cells.slice(0, 5).map((c) => c.trim())).toEqual([String(s.seq), s.name, s.kind, s.status, String(s.attempts)]);
    }
    // The step's output is shown with its secret redacted.
    const body = await page.content();
    expect(body).not.toContain('tok_hidden_123');
    expect(body).toContain('redacted');
    // What it waits for, from its waiting step.
    const child = steps.find((s) => s.kind === 'call')!.child as string;
    await expect(page.locator('.waits [data-wait=step]').textContent()).resolves.toContain('onboard:7');
    await expect(page.locator(`table.children tr[data-child="${child}"]`).count()).resolves.toBe(1);
    // The child links back to its parent.
    await page.locator(`table.children a[href$="/calls/${child}"]`).click();
    await expect(page.locator('h1').textContent()).resolves.toBe(`Call ${child}`);
    await page.locator('a.parent').click();
    await expect(page.locator('h1').textContent()).resolves.toBe(`Call ${workflowId}`);
    // The status filter offers waiting, and finds the workflow.
    await page.goto(`${url}/calls`);
    await page.getByLabel('waiting', { exact: true }).check();
    await page.getByRole('button', { name: 'Filter' }).click();
    expect(page.url()).toContain('status=waiting');
    const ids = await page.locator('table.calls tbody tr').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset['id']));
    const { rows: waiting } = await db.pool.query(`select id::text from pgdispatch.calls where status = 'waiting' order by id desc`);
    expect(ids).toEqual(waiting.map((r) => r.id));
    expect(ids).toContain(workflowId);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('a call held by flow control says what it waits for, as call_waits does', async () => {
    const { rows: [c] } = await db.pool.query(
      `select id::text from pgdispatch.calls where status = 'pending' order by id limit 1`,
    );
    await db.pool.query(
      `insert into pgdispatch.flow_keys (key, concurrency_limit) values ('tenant:9', 1);
       insert into pgdispatch.flow_waits (call_id, key, reason) values (${Number(c.id)}, 'tenant:9', 'concurrency')`,
    );
    const { rows: [w] } = await db.pool.query(`select detail from pgdispatch.call_waits where call_id = $1`, [c.id]);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/calls/${c.id}`);
    await expect(page.locator('.waits [data-wait=concurrency]').textContent()).resolves.toBe(w.detail);
    await context.close();
  });

  it('the schedules page shows the schedules table; disable changes the row and records who did it', async () => {
    await db.pool.query(
      `insert into pgdispatch.schedules (name, function, cron, timezone, next_tick, last_tick, error) values
         ('nightly', 'send_email', '0 3 * * *', 'Europe/Paris', now() + interval '5 hours', now() - interval '19 hours', null),
         ('broken', 'send_email', '0 25 * * *', 'UTC', null, null, 'invalid cron expression')`,
    );
    const { rows: [last] } = await db.pool.query(
      `insert into pgdispatch.calls (function, input, status, attempts, retry_policy, idempotency_key, finished_at)
       values ('send_email', '{}', 'succeeded', 1, 'default', 'schedule:nightly:2026-01-01T02:00:00.000Z', now())
       returning id::text`,
    );
    await db.pool.query(`update pgdispatch.schedules set last_call_id = $1 where name = 'nightly'`, [last.id]);
    const context = await browser.newContext();
    const { page, problems } = await strictPage(context);
    await page.goto(`${url}/schedules`);
    const { rows } = await db.pool.query(`select name, cron, timezone, enabled, error from pgdispatch.schedules order by name`);
    const shown = page.locator('table.schedules tbody tr');
    await expect(shown.count()).resolves.toBe(rows.length);
    for (const [i, r] of rows.entries()) {
      const row = shown.nth(i);
      await expect(row.getAttribute('data-schedule')).resolves.toBe(r.name);
      const text = (await row.textContent())!;
      expect(text).toContain(r.cron);
      expect(text).toContain(r.timezone);
      if (r.error) expect(text).toContain(r.error);
    }
    await expect(page.locator('tr[data-schedule=nightly] ul.recent a').first().textContent()).resolves.toBe(last.id);

    await page.locator('tr[data-schedule=nightly]').getByRole('button', { name: 'Disable' }).click();
    await page.locator('[role=status]', { hasText: 'Schedule disabled.' }).waitFor();
    const { rows: [after] } = await db.pool.query(
      `select enabled, changed_by, next_tick from pgdispatch.schedules where name = 'nightly'`,
    );
    expect(after).toEqual({ enabled: false, changed_by: 'alice@example.com', next_tick: null });
    await expect(page.locator('tr[data-schedule=nightly]').getAttribute('data-enabled')).resolves.toBe('false');
    await expect(page.locator('tr[data-schedule=nightly] .actor').textContent()).resolves.toBe('alice@example.com');
    await page.locator('tr[data-schedule=nightly]').getByRole('button', { name: 'Enable' }).click();
    await page.locator('[role=status]', { hasText: 'Schedule enabled' }).waitFor();
    expect((await db.pool.query(`select enabled from pgdispatch.schedules where name = 'nightly'`)).rows[0].enabled).toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('read-only: no schedule buttons, and a direct POST is a 403 that changes nothing', async () => {
    const ro = await serve({ readOnly: true });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${ro}/schedules`);
    await expect(page.locator('table.schedules tbody tr').count()).resolves.toBeGreaterThan(0);
    await expect(page.getByRole('button', { name: /Disable|Enable/ }).count()).resolves.toBe(0);
    const res = await page.request.post(`${ro}/schedules/nightly/disable`, {
      form: { _csrf: 'x' },
      headers: { origin: new URL(ro).origin },
    });
    expect(res.status()).toBe(403);
    expect(await res.text()).toContain('This dashboard is read-only.');
    expect((await db.pool.query(`select enabled from pgdispatch.schedules where name = 'nightly'`)).rows[0].enabled).toBe(true);
    // And a cross-origin POST to the full dashboard.
    await page.goto(`${url}/schedules`);
    const token = await page.locator('input[name=_csrf]').first().inputValue();
    const evil = await page.request.post(`${url}/schedules/nightly/disable`, {
      form: { _csrf: token },
      headers: { origin: 'http://evil.example' },
    });
    expect(evil.status()).toBe(403);
    expect((await db.pool.query(`select enabled from pgdispatch.schedules where name = 'nightly'`)).rows[0].enabled).toBe(true);
    await context.close();
  });

  it("endpoints show an origin's adaptive limit and its recent changes, as endpoint_concurrency does", async () => {
    const { rows: [e] } = await db.pool.query(`select name, url from pgdispatch.endpoints where name = 'billing'`);
    const origin = new URL(e.url).origin;
    await db.pool.query(
      `insert into pgdispatch.origin_concurrency (origin, concurrency_limit, max_limit, increases, decreases)
       values ($1, 6.5, 16, 3, 1)`,
      [origin],
    );
    await db.pool.query(
      `insert into pgdispatch.origin_concurrency_changes (origin, from_limit, to_limit, reason)
       values ($1, 4, 8, 'good answers'), ($1, 8, 4, 'HTTP 503'), ($1, 4, 6, 'good answers')`,
      [origin],
    );
    const { rows: [ec] } = await db.pool.query(
      `select concurrency_limit, max_limit from pgdispatch.endpoint_concurrency where endpoint = 'billing'`,
    );
    const context = await browser.newContext();
    const { page, problems } = await strictPage(context);
    await page.goto(`${url}/endpoints`);
    const row = page.locator('tr', { has: page.locator('th a', { hasText: /^billing$/ }) });
    await expect(row.locator('.limit').textContent()).resolves.toBe(String(ec.concurrency_limit));
    await page.goto(`${url}/endpoints/billing`);
    await expect(page.locator('.limit').textContent()).resolves.toBe(String(ec.concurrency_limit));
    const changes = await page.locator('table.limit-changes tbody tr').evaluateAll((rs) =>
      rs.map((r) => [...r.querySelectorAll('td')].slice(1).map((td) => td.textContent)),
    );
    expect(changes).toEqual([['4', '6', 'good answers'], ['8', '4', 'HTTP 503'], ['4', '8', 'good answers']]);
    // An endpoint whose origin no worker reported for shows none.
    await page.goto(`${url}/endpoints/orders`);
    await expect(page.locator('.limit').count()).resolves.toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  });
  it('axe finds no serious violation on these views, light or dark, and they work without JavaScript', async () => {
    const paths = [`calls/${workflowId}`, 'schedules', 'endpoints', 'endpoints/billing'];
    for (const colorScheme of ['light', 'dark'] as const) {
      const context = await browser.newContext({ colorScheme });
      const { page, problems } = await strictPage(context);
      for (const p of paths) {
        await page.goto(`${url}/${p}`);
        await page.evaluate(AXE);
        const violations = await page.evaluate(async () => {
          const axe = (window as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
          const r = await axe.run(document, { resultTypes: ['violations'] });
          return r.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
        });
        expect(violations, `${colorScheme} ${p}`).toEqual([]);
      }
      expect(problems).toEqual([]);
      await context.close();
    }
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${url}/schedules`);
    await page.locator('tr[data-schedule=broken]').getByRole('button', { name: 'Disable' }).click();
    await page.locator('[role=status]', { hasText: 'Schedule disabled.' }).waitFor();
    expect((await db.pool.query(`select enabled from pgdispatch.schedules where name = 'broken'`)).rows[0].enabled).toBe(false);
    await context.close();
  });
});
