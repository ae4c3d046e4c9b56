/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard in a real Chromium: booted by `pgdispatch dashboard`, its
 * lists checked against SQL counts, a timeline against its rows, actions
 * against the rows they change, read-only and cross-origin POSTs refused,
 * pages without JavaScript, axe on every page in light and dark, and the
 * live tail fed by a real worker delivering to a real receiver.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard, type WorkerHandle } from '../../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { CLI, ROOT } from '../support/processes.js';
import { type Receiver, startReceiver } from '../support/receiver.js';
import { haveChromium, launchBrowser } from './browser.js';
import { rollUp, seed } from './seed.js';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let db: TestDatabase;
let browser: Browser;
let cli: ChildProcess | undefined;
let cliUrl: string;
const servers: Server[] = [];
const dashboards: Dashboard[] = [];

/** An in-process dashboard on node:http at the root, with options. */
async function serve(options: Parameters<typeof createDashboard>[0]): Promise<string> {
  const d = createDashboard({ pool: db.pool, ...options });
  dashboards.push(d);
  const server = createServer(d.node);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${options.basePath ?? ''}`;
}

/** A page that fails the test on any console error, page error or failed request. */
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
  page.on('request', (r) => {
    if (!r.url().startsWith('http://127.0.0.1:')) problems.push(`left the machine: ${r.url()}`);
  });
  return { page, problems };
}

const sqlCount = async (text: string, values: unknown[] = []) =>
  Number((await db.pool.query(text, values)).rows[0].n);

describe.skipIf(!haveChromium)('dashboard in Chromium', () => {
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await seed(db.pool, 300);
    await rollUp(db.pool);
    browser = await launchBrowser();
    url = await serve({ authorize: () => ({ actor: 'alice@example.com' }) });
    // The command, as a user starts it.
    cli = spawn(process.execPath, [CLI, 'dashboard', '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: db.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    cli.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    cli.stderr?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    cliUrl = await eventually(async () => out.match(/http:\/\/127\.0\.0\.1:\d+\/\?token=\S+/)?.[0], {
      timeoutMs: 15_000,
      message: 'the dashboard command printed no URL',
    });
  });

  afterAll(async () => {
    cli?.kill('SIGTERM');
    await browser?.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await Promise.all(dashboards.map((d) => d.close()));
    await db?.drop();
  });

  it('boots from `pgdispatch dashboard --port 0`: the token signs in once, pages load clean', async () => {
    const context = await browser.newContext();
    const { page, problems } = await strictPage(context);
    await page.goto(cliUrl);
    expect(new URL(page.url()).searchParams.has('token')).toBe(false);
    await expect(page.locator('h1').textContent()).resolves.toBe('Calls');
    for (const section of ['Functions', 'Endpoints', 'Workers', 'Schedules', 'Retry policies', 'Calls']) {
      await page.getByRole('link', { name: section, exact: true }).click();
      await expect(page.locator('h1').textContent()).resolves.toBe(section);
    }
    expect(problems).toEqual([]);
    // The same URL again, in another browser: the token is spent.
    const other = await browser.newContext();
    const res = await (await other.newPage()).goto(cliUrl);
    expect(res?.status()).toBe(401);
    await Promise.all([context.close(), other.close()]);
  });

  it('filters give the counts and rows SQL gives, in shareable URLs, keyset pages without repeats', async () => {
    const context = await browser.newContext();
    const { page, problems } = await strictPage(context);
    await page.goto(`${url}/calls`);
    await page.getByLabel('failed').check();
    await page.getByLabel('Function').selectOption('webhook');
    await page.getByRole('button', { name: 'Filter' }).click();
    expect(page.url()).toContain('status=failed');
    expect(page.url()).toContain('function=webhook');
    const want = await sqlCount(
      `select count(*) as n from pgdispatch.calls where status = 'failed' and function = 'webhook'`,
    );
    expect(want).toBeGreaterThan(0);
    expect(Number(await page.locator('.count').getAttribute('data-count'))).toBe(want);
    const ids = await page.locator('table.calls tbody tr').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset['id']));
    const { rows } = await db.pool.query(
      `select c.id::text as cid from pgdispatch.calls c where status = 'failed' and function = 'webhook' order by c.id desc`,
    );
    expect(ids).toEqual(rows.map((r) => r.cid));

    // Endpoint, HTTP status, payload containment and a time window, straight from a URL.
    const q = new URLSearchParams({ endpoint: 'billing', http_status: '500', since: '24h', input: '{"body":{"kind":"paid"}}' });
    await page.goto(`${url}/calls?${q}`);
    const want2 = await sqlCount(
      `select count(*) as n from pgdispatch.calls c
        where c.function = 'webhook' and c.input ->> 'endpoint' = 'billing'
          and exists (select from pgdispatch.attempts a where a.call_id = c.id and a.http_status = 500)
          and c.created_at >= now() - interval '24 hours' and c.input @> '{"body":{"kind":"paid"}}'`,
    );
    expect(want2).toBeGreaterThan(0);
    expect(Number(await page.locator('.count').getAttribute('data-count'))).toBe(want2);

    // Keyset pages: 300 calls, 50 a page, each id once, newest first.
    await page.goto(`${url}/calls`);
    const seen: string[] = [];
    for (;;) {
      seen.push(...(await page.locator('table.calls tbody tr').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset['id']!))));
      const older = page.getByRole('link', { name: 'Older' });
      if ((await older.count()) === 0) break;
      await older.click();
    }
    expect(seen).toHaveLength(300);
    expect(new Set(seen).size).toBe(300);
    expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((a, b) => b - a));
    await page.goBack();
    expect(page.url()).toContain('before=');
    expect(problems).toEqual([]);
    await context.close();
  });

  it("shows a call's timeline as its rows say, and its SQL returns the same rows", async () => {
    const { rows: [call] } = await db.pool.query(
      `select c.id::text from pgdispatch.calls c
        where c.status = 'failed' and c.function = 'webhook' and c.input ->> 'endpoint' = 'billing'
          and exists (select from pgdispatch.call_events e where e.call_id = c.id) order by c.id limit 1`,
    );
    const context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const { page, problems } = await strictPage(context);
    await page.goto(`${url}/calls/${call.id}`);
    const attempts = (await db.pool.query(
      'select attempt, status, http_status, response from pgdispatch.attempts where call_id = $1 order by attempt',
      [call.id],
    )).rows;
    const shown = page.locator('li.attempt');
    await expect(shown.count()).resolves.toBe(attempts.length);
    for (const [i, a] of attempts.entries()) {
      const li = shown.nth(i);
      await expect(li.getAttribute('data-attempt')).resolves.toBe(String(a.attempt));
      const text = await li.textContent();
      expect(text).toContain(a.status);
      expect(text).toContain(`HTTP ${a.http_status}`);
    }
    await expect(page.locator('li.worker_lost').count()).resolves.toBe(1);
    // The billing endpoint's authorization header is redacted, not shown.
    const html = await page.content();
    expect(html).not.toContain('sk_live_abc123');
    expect(html).toContain('redacted');
    expect(html).toContain('database is down');
    // "Copy" puts the attempts query on the clipboard; it returns the same rows.
    const details = page
      .locator('section.sql details')
      .filter({ has: page.locator('summary', { hasText: /^attempts$/ }) });
    await details.locator('summary').click();
    await details.getByRole('button', { name: 'Copy' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const fromSql = (await db.pool.query(copied)).rows;
    expect(fromSql.map((r) => [r.attempt, r.status, r.http_status])).toEqual(
      attempts.map((a) => [a.attempt, a.status, a.http_status]),
    );
    expect(problems).toEqual([]);
    await context.close();
  });

  it('retry and cancel change the rows and record who did it; bulk shows a dry-run count first', async () => {
    const context = await browser.newContext();
    const { page, problems } = await strictPage(context);
    const pick = async (status: string) =>
      (await db.pool.query(`select c.id::text as id from pgdispatch.calls c where status = $1 order by c.id limit 1`, [status])).rows[0].id as string;
    const failed = await pick('failed');
    await page.goto(`${url}/calls/${failed}`);
    await page.getByRole('button', { name: 'Retry this call' }).click();
    await page.waitForURL(`${url}/calls/${failed}`);
    const after = (await db.pool.query('select status from pgdispatch.calls where id = $1', [failed])).rows[0];
    expect(after.status).toBe('retrying');
    const ev = (await db.pool.query(
      `select event, actor from pgdispatch.call_events where call_id = $1 order by id desc limit 1`, [failed])).rows[0];
    expect(ev).toEqual({ event: 'retried', actor: 'alice@example.com' });
    await expect(page.locator('li.retried .actor').textContent()).resolves.toBe('by alice@example.com');

    const pending = await pick('pending');
    await page.goto(`${url}/calls/${pending}`);
    await page.getByRole('button', { name: 'Cancel this call' }).click();
    await page.waitForURL(`${url}/calls/${pending}`);
    expect((await db.pool.query('select status from pgdispatch.calls where id = $1', [pending])).rows[0].status).toBe('cancelled');
    expect((await db.pool.query(
      `select actor from pgdispatch.call_events where call_id = $1 and event = 'cancelled'`, [pending])).rows[0].actor).toBe('alice@example.com');

    // Bulk: cancel every pending send_email call. The dry run changes nothing.
    const count = () => sqlCount(`select count(*) as n from pgdispatch.calls where status = 'pending' and function = 'send_email'`);
    const before = await count();
    expect(before).toBeGreaterThan(0);
    await page.goto(`${url}/calls?function=send_email&status=pending`);
    await page.getByRole('button', { name: /Cancel the pending/ }).click();
    await expect(page.locator('.dry-run').getAttribute('data-count')).resolves.toBe(String(before));
    expect(await count()).toBe(before);
    await page.getByRole('button', { name: 'Cancel them' }).click();
    await expect(page.locator('[data-changed]').getAttribute('data-changed')).resolves.toBe(String(before));
    expect(await count()).toBe(0);
    expect(await sqlCount(`select count(*) as n from pgdispatch.call_events e join pgdispatch.calls c on c.id = e.call_id
        where c.function = 'send_email' and e.event = 'cancelled' and e.actor = 'alice@example.com'`)).toBe(before);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('functions: the table and the charts carry what SQL aggregates over the window', async () => {
    const context = await browser.newContext();
    const { page, problems } = await strictPage(context);
    await page.goto(`${url}/functions?window=24h`);
    await page.locator('.chart-grid canvas').first().waitFor();
    const { rows } = await db.pool.query(
      `select c.function, count(*)::int as n, count(*) filter (where a.status <> 'ok')::int as errors
         from pgdispatch.attempts a join pgdispatch.calls c on c.id = a.call_id
        where a.finished_at >= now() - interval '24 hours' group by 1 order by 1`,
    );
    expect(rows.length).toBe(3);
    for (const r of rows) {
      const cells = await page.locator('tr', { has: page.locator(`th >> text="${r.function}"`) }).first().locator('td').allTextContents();
      // Policy, five statuses, then attempts and errors.
      expect(cells.slice(6, 8)).toEqual([String(r.n), String(r.errors)]);
    }
    const data = JSON.parse((await page.locator('#chart-function').textContent())!);
    const total = (data.rate as number[][]).flat().reduce((x, y) => x + y, 0) * data.bucketS;
    expect(Math.round(total)).toBe(rows.reduce((x, r) => x + r.n, 0));
    expect(problems).toEqual([]);
    await context.close();
  });

  it('read-only: no buttons, and a direct POST is a 403 that changes nothing', async () => {
    const ro = await serve({ readOnly: true });
    const context = await browser.newContext();
    const page = await context.newPage();
    const { rows: [c] } = await db.pool.query(`select c.id::text as id from pgdispatch.calls c where status = 'failed' order by c.id desc limit 1`);
    await page.goto(`${ro}/calls/${c.id}`);
    await expect(page.getByRole('button', { name: /Retry/ }).count()).resolves.toBe(0);
    const res = await page.request.post(`${ro}/calls/${c.id}/retry`, {
      form: { _csrf: 'x' },
      headers: { origin: new URL(ro).origin },
    });
    expect(res.status()).toBe(403);
    // Refused for being read-only, before any token is looked at.
    expect(await res.text()).toContain('This dashboard is read-only.');
    expect((await db.pool.query('select status from pgdispatch.calls where id = $1', [c.id])).rows[0].status).toBe('failed');
    await context.close();
  });

  it('authorize can allow retries and nothing else: no Cancel button, and its POST is a 403', async () => {
    const retryOnly = await serve({ authorize: () => ({ actor: 'support', can: (a) => a === 'retry' }) });
    const context = await browser.newContext();
    const page = await context.newPage();
    const { rows: [c] } = await db.pool.query(`select c.id::text as id from pgdispatch.calls c where status = 'retrying' order by c.id desc limit 1`);
    await page.goto(`${retryOnly}/calls/${c.id}`);
    await expect(page.getByRole('button', { name: /Cancel/ }).count()).resolves.toBe(0);
    await page.goto(`${retryOnly}/calls`);
    await expect(page.getByRole('button', { name: /Cancel the pending/ }).count()).resolves.toBe(0);
    // A token from a form this request may use: a failed call's Retry.
    const { rows: [f] } = await db.pool.query(`select c.id::text as id from pgdispatch.calls c where status = 'failed' order by c.id desc limit 1`);
    await page.goto(`${retryOnly}/calls/${f.id}`);
    const token = await page.locator('input[name=_csrf]').first().inputValue();
    const res = await page.request.post(`${retryOnly}/calls/${c.id}/cancel`, {
      form: { _csrf: token },
      headers: { origin: new URL(retryOnly).origin },
    });
    expect(res.status()).toBe(403);
    expect(await res.text()).toContain('You may not cancel here.');
    expect((await db.pool.query('select status from pgdispatch.calls where id = $1', [c.id])).rows[0].status).toBe('retrying');
    await context.close();
  });

  it('refuses a cross-origin POST, and one without the CSRF token, even with the session cookie', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { rows: [c] } = await db.pool.query(`select c.id::text as id from pgdispatch.calls c where status = 'failed' order by c.id desc limit 1`);
    await page.goto(`${url}/calls/${c.id}`);
    const token = await page.locator('input[name=_csrf]').first().inputValue();
    const evil = await page.request.post(`${url}/calls/${c.id}/retry`, {
      form: { _csrf: token },
      headers: { origin: 'http://evil.example' },
    });
    expect(evil.status()).toBe(403);
    expect(await evil.text()).toContain('Cross-origin request refused.');
    const noToken = await page.request.post(`${url}/calls/${c.id}/retry`, {
      form: { _csrf: 'forged' },
      headers: { origin: new URL(url).origin },
    });
    expect(noToken.status()).toBe(403);
    expect((await db.pool.query('select status from pgdispatch.calls where id = $1', [c.id])).rows[0].status).toBe('failed');
    // The real form still works: the refusals were not a broken form.
    await page.getByRole('button', { name: 'Retry this call' }).click();
    await page.waitForURL(`${url}/calls/${c.id}`);
    expect((await db.pool.query('select status from pgdispatch.calls where id = $1', [c.id])).rows[0].status).toBe('retrying');
    await context.close();
  });

  it('works without JavaScript: lists, a timeline and an action', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${url}/calls?status=failed`);
    const id = await page.locator('table.calls tbody tr').first().getAttribute('data-id');
    await page.getByRole('link', { name: id!, exact: true }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe(`Call ${id}`);
    await page.getByRole('button', { name: 'Retry this call' }).click();
    await page.waitForURL(`${url}/calls/${id}`);
    expect((await db.pool.query('select status from pgdispatch.calls where id = $1', [id])).rows[0].status).toBe('retrying');
    await page.goto(`${url}/endpoints/legacy`);
    await page.getByRole('button', { name: 'Enable' }).click();
    await expect(page.locator('[role=status]').textContent()).resolves.toContain('Enabled');
    expect((await db.pool.query(`select enabled from pgdispatch.endpoints where name = 'legacy'`)).rows[0].enabled).toBe(true);
    await context.close();
  });

  it('axe finds no serious violation on any page, light or dark; the keyboard reaches the filters', async () => {
    const { rows: [c] } = await db.pool.query(`select c.id::text as id from pgdispatch.calls c where function = 'webhook' and attempts > 1 order by c.id limit 1`);
    const paths = ['calls', `calls/${c.id}`, 'functions', 'endpoints', 'endpoints/billing', 'workers', 'schedules', 'policies', 'live'];
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
      await page.goto(`${url}/calls`);
      await page.keyboard.press('Tab');
      await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Skip to content');
      expect(problems).toEqual([]);
      await context.close();
    }
  });

  describe('live tail', () => {
    let worker: WorkerHandle;
    let receiver: Receiver;
    let liveUrl: string;
    let pollUrl: string;
    let dispatch: ReturnType<TestDatabase['dispatch']>;

    beforeAll(async () => {
      receiver = await startReceiver();
      dispatch = db.dispatch({ webhook: { allow: ['127.0.0.1/32'] } });
      worker = await dispatch.worker({ concurrency: 4, pollIntervalMs: 50 });
      // Streams end every second, so a test sees the browser resume several
      // times; their poll is half a minute away, so only notifications are fast.
      liveUrl = await serve({ liveStreamMaxMs: 1000, livePollMs: 30_000 });
      // Without LISTEN: the poll alone.
      pollUrl = await serve({ liveListen: false });
    });
    afterAll(async () => {
      await worker?.stop();
      await receiver?.close();
    });

    it('shows a new delivery within 2 s, and resumes after dropped streams with no gap and no repeat', async () => {
      const context = await browser.newContext();
      const { page, problems } = await strictPage(context);
      await page.goto(`${liveUrl}/live`);
      await page.locator('#live-state', { hasText: 'Live' }).waitFor();
      const id = await dispatch.webhook.dispatch({ url: `${receiver.url}/hook`, body: { n: 0 } });
      const t0 = Date.now();
      await page.locator(`tr[data-call-id="${id}"]`).waitFor({ timeout: 2000 });
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(receiver.requests.length).toBeGreaterThanOrEqual(1);

      // Five more across several stream restarts (each stream lives 1 s).
      const ids: string[] = [];
      for (let i = 1; i <= 5; i++) {
        ids.push(await dispatch.webhook.dispatch({ url: `${receiver.url}/hook`, body: { n: i } }));
        await new Promise((r) => setTimeout(r, 300));
      }
      const shownCalls = () =>
        page.locator('#live-rows tr').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset['callId']));
      await eventually(async () => shownCalls().then((s) => ids.every((x) => s.includes(x))), {
        timeoutMs: 10_000,
        message: 'not every delivery appeared in the live tail',
      });
      // The stream is cut and stays cut while 30 more are delivered (more than
      // a fresh connection's backlog): the reconnection must bring them all.
      let blocked = 0;
      await page.route('**/live/events*', (route) => {
        blocked++;
        return route.abort();
      });
      await eventually(async () => blocked >= 1, { timeoutMs: 5000, message: 'the stream was never cut' });
      const whileCut: string[] = [];
      for (let i = 0; i < 30; i++)
        whileCut.push(await dispatch.webhook.dispatch({ url: `${receiver.url}/hook`, body: { cut: i } }));
      await eventually(
        async () =>
          Number((await db.pool.query('select count(*) as n from pgdispatch.attempts where call_id = any($1::bigint[])', [whileCut])).rows[0].n) === 30,
        { timeoutMs: 15_000, message: 'the worker did not deliver the calls' },
      );
      await page.unroute('**/live/events*');
      ids.push(...whileCut);
      await eventually(async () => shownCalls().then((s) => ids.every((x) => s.includes(x))), {
        timeoutMs: 10_000,
        message: 'the resumed stream missed deliveries made while it was cut',
      });
      const attemptIds = await page.locator('#live-rows tr').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset['attemptId']));
      expect(new Set(attemptIds).size).toBe(attemptIds.length);
      const { rows } = await db.pool.query(
        `select a.id::text from pgdispatch.attempts a where a.call_id = any($1::bigint[]) order by a.id`, [[id, ...ids]]);
      for (const r of rows) expect(attemptIds).toContain(r.id);
      // Only the failures the test caused: requests it aborted.
      expect(problems.filter((p) => !/ERR_FAILED|ERR_INCOMPLETE_CHUNKED_ENCODING/.test(p))).toEqual([]);
      await context.close();
    });

    it("a call's timeline shows the headers each attempt sent, signature included, secrets redacted", async () => {
      await dispatch.endpoints.add({
        name: 'signed-hook',
        url: `${receiver.url}/signed`,
        headers: { authorization: 'Bearer sk_live_sent_999', 'x-tenant': 'acme', 'x-api-key': 'key_sent_123' },
      });
      const id = await dispatch.webhook.dispatch({ endpoint: 'signed-hook', body: { signed: true } });
      const { rows } = await eventually(async () => {
        const r = await db.pool.query(`select a.response from pgdispatch.attempts a where a.call_id = $1`, [id]);
        return r.rowCount === 1 ? r : undefined;
      }, { timeoutMs: 10_000, message: 'the webhook was not delivered' });
      const got = receiver.requests.find((r) => r.path === '/signed')!;
      const stored = rows[0].response.request.headers as Record<string, string>;
      // What the receiver saw, as stored: signature and id exactly, secrets never.
      expect(stored['webhook-signature']).toBe(got.headers['webhook-signature']);
      expect(stored['webhook-id']).toBe(got.headers['webhook-id']);
      expect(stored['webhook-timestamp']).toBe(got.headers['webhook-timestamp']);
      expect(stored['x-tenant']).toBe('acme');
      expect(stored['authorization']).toBe('[redacted]');
      expect(stored['x-api-key']).toBe('[redacted]');
      expect(got.headers['authorization']).toBe('Bearer sk_live_sent_999');
      expect(JSON.stringify(rows[0].response)).not.toContain('sk_live_sent_999');

      const context = await browser.newContext();
      const { page, problems } = await strictPage(context);
      await page.goto(`${url}/calls/${id}`);
      const details = page.locator('details.request-headers').first();
      await details.locator('summary').click();
      const shown = await details.locator('pre').textContent();
      expect(shown).toContain(got.headers['webhook-signature'] as string);
      expect(shown).toContain('[redacted]');
      expect(await page.content()).not.toContain('sk_live_sent_999');
      expect(await page.content()).not.toContain('key_sent_123');
      expect(problems).toEqual([]);
      await context.close();
    });

    it('without notifications the poll shows a new delivery within 2 s', async () => {
      const context = await browser.newContext();
      const { page, problems } = await strictPage(context);
      await page.goto(`${pollUrl}/live`);
      await page.locator('#live-state', { hasText: 'Live' }).waitFor();
      const id = await dispatch.webhook.dispatch({ url: `${receiver.url}/hook`, body: { polled: true } });
      const t0 = Date.now();
      await page.locator(`tr[data-call-id="${id}"]`).waitFor({ timeout: 2000 });
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(problems).toEqual([]);
      await context.close();
    });
  });
});
