import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AddressGuard, WebhookSender } from '../src/webhook/index.js';

const LOOPBACK = { allowPrivateNetworks: true };

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('what the sender keeps of a response that goes wrong after its status line', () => {
  it('a body cut off by the peer: the status decides, what arrived is kept', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const sender = new WebhookSender({ guard: LOOPBACK });
    const result = await sender.send({ url: server.url, body: '{}' });
    expect(result.status).toBe('ok');
    expect(result.httpStatus).toBe(200);
    expect(result.response).toMatchObject({ status: 200, body: 'partial', truncated: true });
    expect(result.error).toMatch(/^response body: /);
    await sender.close();
    await server.close();
  });

  it('the total deadline still holds once the headers came, past the headers deadline', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.write('slow');
      res.on('error', () => {});
    });
    const sender = new WebhookSender({
      guard: LOOPBACK,
      timeouts: { headersMs: 100, totalMs: 400 },
    });
    const started = performance.now();
    const result = await sender.send({ url: server.url, body: '{}' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    expect(result.durationMs).toBeLessThan(1000);
    expect(result.status).toBe('temporary_error');
    expect(result.response).toMatchObject({ status: 500, body: 'slow', truncated: true });
    expect(result.error).toMatch(/^response body: .*timeout/);
    await sender.close();
    await server.close();
  });

  it('the caller aborting while the body streams keeps what arrived', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200);
      res.write('half');
      res.on('error', () => {});
    });
    const sender = new WebhookSender({ guard: LOOPBACK });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('worker stopping')), 100);
    const result = await sender.send({ url: server.url, body: '{}', signal: controller.signal });
    expect(result.response).toMatchObject({ status: 200, body: 'half', truncated: true });
    expect(result.error).toBe('response body: worker stopping');
    await sender.close();
    await server.close();
  });

  it('informational responses before the final one are skipped', async () => {
    const server = await serve((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(202, { 'content-type': 'text/plain' });
      res.end('accepted');
    });
    const sender = new WebhookSender({ guard: LOOPBACK });
    const result = await sender.send({ url: server.url, body: '{}' });
    expect(result).toMatchObject({ status: 'ok', httpStatus: 202 });
    expect(result.response).toMatchObject({ status: 202, body: 'accepted', truncated: false });
    await sender.close();
    await server.close();
  });
});

describe('URLs the sender has already checked', () => {
  it('are remembered per guard: the same URL is refused again by a guard that refuses it', async () => {
    const server = await serve((_req, res) => res.end('ok'));
    const sender = new WebhookSender({ guard: LOOPBACK });
    const strict = new AddressGuard();
    const results = [];
    for (const guard of [undefined, strict, undefined, strict]) {
      results.push(await sender.send({ url: server.url, body: '{}', ...(guard ? { guard } : {}) }));
    }
    expect(results.map((r) => r.status)).toEqual([
      'ok',
      'invalid_argument',
      'ok',
      'invalid_argument',
    ]);
    await sender.close();
    await server.close();
  });

  it('a URL object changed after a send is checked again', async () => {
    const server = await serve((_req, res) => res.end('ok'));
    const sender = new WebhookSender({ guard: { allow: ['127.0.0.1/32'] } });
    const url = new URL(server.url);
    expect((await sender.send({ url, body: '{}' })).status).toBe('ok');
    url.hostname = '127.0.0.2';
    const moved = await sender.send({ url, body: '{}' });
    expect(moved.status).toBe('invalid_argument');
    expect(moved.error).toMatch(/127\.0\.0\.2/);
    await sender.close();
    await server.close();
  });
});
