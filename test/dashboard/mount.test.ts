/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The same smoke run with the dashboard mounted under /admin/pgd in
 * node:http, Express, Fastify and Hono: links and assets resolve under the
 * prefix, a retry goes through, the live stream flows through the adapter.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve as honoServe } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { haveChromium, launchBrowser } from './browser.js';
import { rollUp, seed } from './seed.js';

const PREFIX = '/admin/pgd';
let db: TestDatabase;
let browser: Browser;
const closers: (() => Promise<unknown>)[] = [];

function dashboard(framework: string): Dashboard {
  const d = createDashboard({ pool: db.pool, basePath: PREFIX, authorize: () => ({ actor: `ops via ${framework}` }) });
  closers.push(() => d.close());
  return d;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const mounts: Record<string, () => Promise<string>> = {
  'node:http': async () => {
    const d = dashboard('node:http');
    return listen(
      createServer((req, res) => {
        if (req.url?.startsWith(PREFIX)) d.node(req, res);
        else res.writeHead(404).end('the app');
      }),
    );
  },
  Express: async () => {
    const app = express();
    // The host app's own body parser runs first: the dashboard copes.
    app.use(express.urlencoded({ extended: false }));
    app.use(PREFIX, dashboard('Express').node);
    app.get('/', (_req, res) => {
      res.send('the app');
    });
    return listen(createServer(app));
  },
  Fastify: async () => {
    const app = Fastify();
    const d = dashboard('Fastify');
    await app.register(async (scope) => {
      // Leave the body to the dashboard.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
      const handler = (req: { raw: import('node:http').IncomingMessage }, reply: { hijack(): void; raw: import('node:http').ServerResponse }) => {
        reply.hijack();
        d.node(req.raw, reply.raw);
      };
      scope.all(PREFIX, handler);
      scope.all(`${PREFIX}/*`, handler);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  },
  Hono: async () => {
    const app = new Hono();
    const d = dashboard('Hono');
    app.mount(PREFIX, d.fetch);
    app.get('/', (c) => c.text('the app'));
    const server = await new Promise<Server>((resolve) => {
      const s = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
    });
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  },
};

describe.skipIf(!haveChromium)('dashboard mounted under a prefix', () => {
  beforeAll(async () => {
    db = await createTestDatabase();
    await seed(db.pool, 60);
    await rollUp(db.pool);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    for (const c of closers.reverse()) await c();
    await db?.drop();
  });

  for (const [framework, mount] of Object.entries(mounts)) {
    it(`${framework}: pages, assets, a retry and the live stream under ${PREFIX}`, async () => {
      const origin = await mount();
      const context = await browser.newContext();
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
      });
      await page.goto(`${origin}${PREFIX}`);
      expect(new URL(page.url()).pathname).toBe(`${PREFIX}/calls`);
      // The stylesheet came through the prefix: the header has its background.
      const css = await page.evaluate(() => document.styleSheets.length);
      expect(css).toBeGreaterThan(0);
      const { rows: [c] } = await db.pool.query(
        `select c.id::text as id from pgdispatch.calls c where c.status = 'failed' and not exists
           (select from pgdispatch.call_events e where e.call_id = c.id and e.event = 'retried') order by c.id limit 1`,
      );
      await page.goto(`${origin}${PREFIX}/calls?status=failed`);
      await page.getByRole('link', { name: c.id, exact: true }).click();
      await page.getByRole('button', { name: 'Retry this call' }).click();
      await page.waitForURL(`${origin}${PREFIX}/calls/${c.id}`);
      const { rows: [ev] } = await db.pool.query(
        `select actor from pgdispatch.call_events where call_id = $1 and event = 'retried'`,
        [c.id],
      );
      expect(ev.actor).toBe(`ops via ${framework}`);
      await page.getByRole('link', { name: 'Live' }).click();
      await page.locator('#live-rows tr').first().waitFor({ timeout: 5000 });
      await page.getByRole('link', { name: 'Functions' }).click();
      await page.locator('.chart-grid canvas').first().waitFor();
      expect(problems).toEqual([]);
      await context.close();
    });
  }
});
