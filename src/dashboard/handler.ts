/**
 * `createDashboard`: a fetch-style handler (Request → Response) with a
 * node:http adapter, mountable under any prefix. Every GET reads in a
 * READ ONLY transaction; every POST passes the read-only switch, the
 * same-origin check and the CSRF token before it reaches the database.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pg from 'pg';
import { assertSchemaName } from '../core/ident.js';
import { type Asset, loadAssets } from './assets.js';
import { type DashboardDb, dashboardDb, type Runner } from './db.js';
import { html } from './html.js';
import { type DashboardAction, layout, type PageContext } from './layout.js';
import { liveStream } from './live.js';
import { type AttemptNotifications, attemptNotifications } from './notifications.js';
import { toNodeHandler } from './node.js';
import { callPage } from './pages/call.js';
import {
  BadRequest,
  bulkConfirmPage,
  bulkDonePage,
  bulkStatuses,
  callsPage,
  parseFilter,
} from './pages/calls.js';
import { endpointPage, endpointsPage } from './pages/endpoints.js';
import { functionsPage } from './pages/functions.js';
import { schedulesPage } from './pages/schedules.js';
import { livePage, policiesPage, workersPage } from './pages/ops.js';
import { attemptsChannel, COUNT_CAP, dashboardQueries } from '../observe/dashboard-statements.js';

/** What `authorize` decides for a request. */
export type Authorization =
  | boolean
  | {
      /** Recorded in call_events as who did an action. (Default: `dashboard`) */
      actor?: string;
      /** Only reads for this request, whatever the dashboard's mode. */
      readOnly?: boolean;
      /**
       * Which actions this request may do (default: all): `retry`,
       * `cancel`, `bulk-retry`, `bulk-cancel`, `endpoint`. A denied one has
       * no button and its POST is a 403.
       */
      can?: (action: DashboardAction) => boolean;
    };

export interface DashboardOptions {
  /** A pool to share with the application; not closed by `close()`. */
  pool?: pg.Pool;
  /** Used when no pool is given: the dashboard opens (and closes) its own. */
  connectionString?: string;
  /** (Default: `pgdispatch`) */
  schema?: string;
  /** The path the dashboard is mounted under, such as `/admin/pgdispatch`. (Default: '') */
  basePath?: string;
  /** Pages only: every POST is a 403. (Default: false) */
  readOnly?: boolean;
  /**
   * Decides each request from its headers (cookies, a session, a proxy's
   * header). False gives a 403. Without it, every request is allowed: guard
   * the route yourself, or use the CLI, which requires a one-time token.
   */
  authorize?: (request: Request) => Authorization | Promise<Authorization>;
  /**
   * A token that, given once as `?token=`, is exchanged for a session cookie;
   * requests without that cookie get a 401. Used by `pgdispatch dashboard`.
   */
  oneTimeToken?: string;
  /** Per statement. (Default: 5000) */
  statementTimeoutMs?: number;
  /** A worker whose heartbeat is older than this is shown as lost. (Default: 30000) */
  lostWorkerAfterMs?: number;
  /** A live stream ends after this long and the browser resumes it. (Default: 300000) */
  liveStreamMaxMs?: number;
  /**
   * The live tail LISTENs (one connection for all its streams) and reads when
   * workers say attempts were recorded; false polls only (a pooler in
   * transaction mode is found out and polled anyway). (Default: true)
   */
  liveListen?: boolean;
  /** The live tail's poll interval when no notifications arrive, in ms. (Default: 1000) */
  livePollMs?: number;
  /** Where errors go (default: console.error). */
  onError?: (err: unknown) => void;
}

export interface Dashboard {
  /** For Hono, Bun, Deno, or any server speaking the Fetch API. */
  fetch(request: Request): Promise<Response>;
  /** For node:http, Express, Fastify (`reply.hijack()` first), Connect. */
  node(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** Ends the pool the dashboard opened itself. */
  close(): Promise<void>;
}

const SESSION_COOKIE = 'pgd_session';
const CSRF_COOKIE = 'pgd_csrf';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function createDashboard(options: DashboardOptions): Dashboard {
  const ownPool = !options.pool;
  const pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.connectionString ?? process.env['DATABASE_URL'],
      max: 5,
      application_name: 'pgdispatch dashboard',
    });
  if (ownPool) pool.on('error', () => undefined);
  const schema = assertSchemaName(options.schema ?? 'pgdispatch');
  const q = dashboardQueries(schema);
  const db: DashboardDb = dashboardDb(pool, options.statementTimeoutMs ?? 5000);
  const base = normalizeBase(options.basePath ?? '');
  const secret = randomBytes(32);
  const sessions = new Set<string>();
  let tokenUsed = false;
  const onError = options.onError ?? ((err: unknown) => console.error('pgdispatch dashboard:', err));
  const lostAfterS = (options.lostWorkerAfterMs ?? 30_000) / 1000;
  let assets: Map<string, Asset> | undefined;
  const notifications: AttemptNotifications | undefined =
    options.liveListen === false ? undefined : attemptNotifications(pool, attemptsChannel(schema), onError);

  const csrfFor = (cookie: string) =>
    createHmac('sha256', secret).update(cookie).digest('base64url');

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    let path = url.pathname;
    if (base && (path === base || path.startsWith(`${base}/`))) path = path.slice(base.length);
    if (path === '') path = '/';
    const cookies = parseCookies(request.headers.get('cookie'));
    const setCookies: string[] = [];
    const cookiePath = base || '/';

    if (path.startsWith('/assets/')) {
      assets ??= await loadAssets();
      const a = assets.get(path.slice('/assets/'.length));
      if (!a) return text(404, 'not found');
      return new Response(a.body, {
        headers: { 'content-type': a.type, 'cache-control': 'public, max-age=3600' },
      });
    }

    if (options.oneTimeToken !== undefined) {
      const given = url.searchParams.get('token');
      if (given !== null && !tokenUsed && safeEqual(given, options.oneTimeToken)) {
        tokenUsed = true;
        const sid = randomBytes(24).toString('base64url');
        sessions.add(sid);
        url.searchParams.delete('token');
        return new Response(null, {
          status: 303,
          headers: {
            location: `${url.pathname}${url.search}`,
            'set-cookie': `${SESSION_COOKIE}=${sid}; Path=${cookiePath}; HttpOnly; SameSite=Strict`,
          },
        });
      }
      const sid = cookies.get(SESSION_COOKIE);
      if (!sid || !sessions.has(sid))
        return page(
          401,
          'Sign-in needed',
          'Open the URL the pgdispatch dashboard command printed (its token works once).',
        );
    }

    let actor = 'dashboard';
    let readOnly = options.readOnly ?? false;
    let allowed: ((action: DashboardAction) => boolean) | undefined;
    if (options.authorize) {
      const verdict = await options.authorize(request);
      if (!verdict) return page(403, 'Forbidden', 'You may not open this dashboard.');
      if (typeof verdict === 'object') {
        if (verdict.actor) actor = verdict.actor;
        if (verdict.readOnly) readOnly = true;
        allowed = verdict.can;
      }
    }

    let csrfCookie = cookies.get(CSRF_COOKIE);
    if (!csrfCookie || !/^[A-Za-z0-9_-]{16,64}$/.test(csrfCookie)) {
      csrfCookie = randomBytes(18).toString('base64url');
      setCookies.push(`${CSRF_COOKIE}=${csrfCookie}; Path=${cookiePath}; HttpOnly; SameSite=Strict`);
    }
    const can = (a: DashboardAction) => !readOnly && (allowed?.(a) ?? true);
    const ctx: PageContext = { base, readOnly, can, csrf: csrfFor(csrfCookie), actor };

    try {
      let res: Response;
      if (request.method === 'GET' || request.method === 'HEAD') {
        res = await get(ctx, path, url, request);
      } else if (request.method === 'POST') {
        if (readOnly) throw new HttpError(403, 'This dashboard is read-only.');
        checkOrigin(request, url);
        const form = await readForm(request);
        const token = form.get('_csrf') ?? '';
        if (!cookies.get(CSRF_COOKIE) || !safeEqual(token, ctx.csrf))
          throw new HttpError(403, 'The form is stale or did not come from this dashboard: reload the page.');
        const action = actionOf(path, form);
        if (action && !can(action)) throw new HttpError(403, `You may not ${action.replace('-', ' ')} here.`);
        res = await post(ctx, path, form);
      } else {
        throw new HttpError(405, 'Method not allowed.');
      }
      for (const c of setCookies) res.headers.append('set-cookie', c);
      return res;
    } catch (err) {
      if (err instanceof HttpError) return page(err.status, statusTitle(err.status), err.message, ctx);
      if (err instanceof BadRequest) return page(400, 'Bad request', err.message, ctx);
      const code = (err as { code?: string }).code;
      if (code === '57014')
        return page(503, 'Too slow', 'The query hit the statement timeout: narrow the filter (a time window helps).', ctx);
      if (code === 'PD004' || code === 'PD006') return page(404, 'Not found', (err as Error).message, ctx);
      onError(err);
      return page(500, 'Error', 'The dashboard failed to answer; the server log says why.', ctx);
    }
  }

  async function get(ctx: PageContext, path: string, url: URL, request: Request): Promise<Response> {
    const read = (fn: (run: Runner) => Promise<string | null>) =>
      db.read(fn).then((body) => {
        if (body === null) throw new HttpError(404, 'Nothing here.');
        return htmlResponse(200, body);
      });
    const m = path.match(/^\/(calls|endpoints)\/([^/]+)$/);
    if (path === '/') return redirect(`${base}/calls`);
    if (path === '/calls') return read((run) => callsPage(ctx, q, run, url.searchParams));
    if (m?.[1] === 'calls') {
      const id = decodeURIComponent(m[2]!);
      if (!/^\d{1,19}$/.test(id)) throw new HttpError(404, 'No such call.');
      return read((run) => callPage(ctx, q, run, id));
    }
    if (path === '/functions') return read((run) => functionsPage(ctx, q, run, url.searchParams));
    if (path === '/endpoints') return read((run) => endpointsPage(ctx, q, run));
    if (m?.[1] === 'endpoints')
      return read((run) =>
        endpointPage(ctx, q, run, decodeURIComponent(m[2]!), noticeText(url.searchParams.get('done'))),
      );
    if (path === '/workers') return read((run) => workersPage(ctx, q, run, lostAfterS));
    if (path === '/policies') return read((run) => policiesPage(ctx, q, run));
    if (path === '/schedules')
      return read((run) => schedulesPage(ctx, q, run, scheduleNotice(url.searchParams.get('done'))));
    if (path === '/live') return htmlResponse(200, livePage(ctx, q));
    if (path === '/live/events') {
      const after =
        request.headers.get('last-event-id') ?? url.searchParams.get('after') ?? undefined;
      const body = liveStream({
        db,
        q,
        after,
        maxMs: options.liveStreamMaxMs ?? 300_000,
        notifications,
        pollMs: options.livePollMs ?? 1000,
        onError,
      });
      return new Response(body, {
        headers: {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-accel-buffering': 'no',
        },
      });
    }
    throw new HttpError(404, 'No such page.');
  }

  async function post(ctx: PageContext, path: string, form: URLSearchParams): Promise<Response> {
    let m = path.match(/^\/calls\/(\d{1,19})\/(retry|cancel)$/);
    if (m) {
      const [, id, action] = m as unknown as [string, string, 'retry' | 'cancel'];
      const st = action === 'retry' ? q.retryCall(id, ctx.actor) : q.cancelCall(id, ctx.actor);
      await db.write((run) => run(st));
      return redirect(`${base}/calls/${id}`);
    }
    if (path === '/calls/bulk') {
      const action = form.get('action');
      if (action !== 'retry' && action !== 'cancel') throw new BadRequest('action must be retry or cancel');
      const filter = parseFilter(form);
      delete filter.before;
      const statuses = bulkStatuses(action, filter);
      if (form.get('confirm') !== 'yes') {
        const count = q.countCalls({ ...filter, statuses: statuses.length ? statuses : ['-'] });
        const max = q.maxCallId();
        const [n, upto] = await db.read(async (run) => [
          statuses.length ? ((await run<{ n: number }>(count))[0]?.n ?? 0) : 0,
          (await run<{ id: string }>(max))[0]?.id ?? '0',
        ]);
        return htmlResponse(200, bulkConfirmPage(ctx, action, form, n, upto, [count]));
      }
      const upto = form.get('upto') ?? '0';
      if (!/^\d{1,19}$/.test(upto)) throw new BadRequest('upto must be a call id');
      let after = '0';
      let changed = 0;
      while (statuses.length) {
        const ids = await db.write(async (run) => {
          const rows = await run<{ id: string }>(q.bulkIds(filter, statuses, after, upto, 500));
          for (const r of rows) {
            const st = action === 'retry' ? q.retryCall(r.id, ctx.actor) : q.cancelCall(r.id, ctx.actor);
            const [done] = await run<{ done: boolean }>(st);
            if (done?.done) changed++;
          }
          return rows;
        });
        if (ids.length < 500) break;
        after = ids[ids.length - 1]!.id;
      }
      return htmlResponse(200, bulkDonePage(ctx, action, changed, form));
    }
    m = path.match(/^\/endpoints\/([^/]+)\/(enable|disable|rotate|drop-secrets)$/);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const action = m[2]!;
      let notice: string;
      if (action === 'enable') {
        const replay = form.get('replay') === 'yes';
        const [row] = await db.write((run) =>
          run<{ replayed: number }>(q.enableEndpoint(name, replay, ctx.actor)),
        );
        notice = replay ? `replayed-${row?.replayed ?? 0}` : 'enabled';
      } else {
        const secret = `whsec_${randomBytes(24).toString('base64')}`;
        const st =
          action === 'disable'
            ? q.disableEndpoint(name, ctx.actor)
            : action === 'rotate'
              ? q.rotateSecret(name, secret)
              : q.dropPreviousSecrets(name);
        const rows = await db.write((run) => run(st));
        if (rows.length === 0) throw new HttpError(404, `No endpoint ${name}.`);
        if (action === 'rotate') {
          // Shown once, on this response only, never in a URL.
          const body = html`<p role="status">New signing secret (the previous one keeps signing until you drop it):</p>
<pre class="secret">${secret}</pre><p><a href="${base}/endpoints/${name}">Back to ${name}</a></p>`;
          return htmlResponse(
            200,
            layout(ctx, { title: `Endpoint ${name}`, section: 'endpoints', body }),
            { 'cache-control': 'no-store' },
          );
        }
        notice = action === 'disable' ? 'disabled' : 'dropped';
      }
      return redirect(`${base}/endpoints/${encodeURIComponent(name)}?done=${notice}`);
    }
    m = path.match(/^\/schedules\/([^/]+)\/(enable|disable)$/);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const enable = m[2] === 'enable';
      const rows = await db.write((run) => run(q.setScheduleEnabled(name, enable, ctx.actor)));
      if (rows.length === 0) throw new HttpError(404, `No schedule ${name}.`);
      return redirect(`${base}/schedules?done=${enable ? 'enabled' : 'disabled'}#schedule-${encodeURIComponent(name)}`);
    }
    throw new HttpError(404, 'No such action.');
  }

  function page(status: number, title: string, message: string, ctx?: PageContext): Response {
    const c = ctx ?? { base, readOnly: true, can: () => false, csrf: '', actor: '' };
    const back = status === 400 || status === 404 ? html`<p><a href="${base}/calls">Back to the calls</a></p>` : '';
    return htmlResponse(
      status,
      layout(c, { title, section: '', body: html`<p class="notice">${message}</p>${back}` }),
    );
  }

  const fetch = async (request: Request) => {
    const res = await handle(request);
    const h = res.headers;
    h.set(
      'content-security-policy',
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    h.set('x-content-type-options', 'nosniff');
    h.set('referrer-policy', 'same-origin');
    return res;
  };

  return {
    fetch,
    node: toNodeHandler(fetch, base),
    async close() {
      await notifications?.close();
      if (ownPool) await pool.end();
    },
  };
}

/** The action a POST asks for (undefined for a path that is no action: a 404 later). */
function actionOf(path: string, form: URLSearchParams): DashboardAction | undefined {
  const m = path.match(/^\/calls\/\d{1,19}\/(retry|cancel)$/);
  if (m) return m[1] as 'retry' | 'cancel';
  if (path === '/calls/bulk') return form.get('action') === 'cancel' ? 'bulk-cancel' : 'bulk-retry';
  if (path.startsWith('/endpoints/')) return 'endpoint';
  if (path.startsWith('/schedules/')) return 'schedule';
  return undefined;
}

/** What an endpoint action did, from a fixed list: a link cannot put its own words on the page. */
function noticeText(done: string | null): string | undefined {
  if (done === 'enabled') return 'Enabled.';
  if (done === 'disabled') return 'Disabled.';
  if (done === 'dropped') return 'Only the newest secret signs now.';
  const replayed = done?.match(/^replayed-(\d{1,9})$/);
  if (replayed) return `Enabled; ${replayed[1]} calls replayed.`;
  return undefined;
}

function scheduleNotice(done: string | null): string | undefined {
  if (done === 'enabled') return 'Schedule enabled; a worker computes its next tick from now.';
  if (done === 'disabled') return 'Schedule disabled.';
  return undefined;
}

function normalizeBase(b: string): string {
  const t = b.replace(/\/+$/, '');
  if (t === '') return '';
  if (!t.startsWith('/') || /[?#\s"'<>]/.test(t)) throw new TypeError(`basePath must be a path such as /admin/pgdispatch, got ${JSON.stringify(b)}`);
  return t;
}

/** The request must come from a page of this origin (Origin, else Referer). */
function checkOrigin(request: Request, url: URL) {
  const site = request.headers.get('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none')
    throw new HttpError(403, 'Cross-site request refused.');
  const origin = request.headers.get('origin') ?? refererOrigin(request.headers.get('referer'));
  if (!origin || origin !== url.origin) throw new HttpError(403, 'Cross-origin request refused.');
}

function refererOrigin(r: string | null): string | null {
  if (!r) return null;
  try {
    return new URL(r).origin;
  } catch {
    return null;
  }
}

async function readForm(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded'))
    throw new HttpError(415, 'Send a form (application/x-www-form-urlencoded).');
  const body = await request.text();
  if (body.length > 64 * 1024) throw new HttpError(413, 'Form too large.');
  return new URLSearchParams(body);
}

function parseCookies(h: string | null): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of (h ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) m.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return m;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function htmlResponse(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

function redirect(location: string): Response {
  return new Response(null, { status: 303, headers: { location } });
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

function statusTitle(s: number): string {
  return s === 403 ? 'Forbidden' : s === 404 ? 'Not found' : s === 415 ? 'Unsupported' : 'Error';
}

export { COUNT_CAP };
