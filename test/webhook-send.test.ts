import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddressGuard,
  parseRetryAfter,
  SenderClosedError,
  type SendResult,
  signWebhook,
  verifyWebhook,
  WebhookSender,
} from '../src/webhook/index.js';

interface TestServer {
  url: string;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  requests: Array<{
    method: string;
    url: string;
    headers: IncomingMessage['headers'];
    body: string;
  }>;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

async function serve(handler: Handler): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      state.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
      });
      handler(req, res, body);
    });
  });
  server.on('connection', (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const state: TestServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: 0,
    requests: [],
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  return state;
}

/** A raw TCP server, for peers that do not speak HTTP properly. */
async function serveTcp(
  onSocket: (socket: Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

const LOOPBACK = { allow: ['127.0.0.1/32'] };
const FAST = { connectMs: 1000, headersMs: 300, totalMs: 1000 };

describe('WebhookSender against a real server', () => {
  let server: TestServer;
  let sender: WebhookSender;

  beforeAll(async () => {
    server = await serve((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const code = Number(url.searchParams.get('code') ?? 200);
      if (code >= 300 && code < 400) res.setHeader('location', `${server.url}/elsewhere`);
      const retryAfter = url.searchParams.get('retry-after');
      if (retryAfter) res.setHeader('retry-after', retryAfter);
      res.setHeader('set-cookie', 'session=secret');
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      const text = `answer ${code}`;
      res.writeHead(code, { 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    sender = new WebhookSender({ guard: LOOPBACK, timeouts: FAST });
  });
  afterAll(async () => {
    await sender.close();
    await server.close();
  });

  it('delivers a signed body and returns ok with the response', async () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = JSON.stringify({ order: 42 });
    const headers = {
      'content-type': 'application/json',
      ...signWebhook(secret, { id: 'msg_1', timestamp: new Date(), body }),
    };
    const result = await sender.send({ url: `${server.url}/hook`, body, headers });
    expect(result).toMatchObject({
      status: 'ok',
      httpStatus: 200,
      response: { status: 200, body: 'answer 200', truncated: false },
    });
    expect(result.response?.headers).toEqual({
      'content-type': 'text/plain; charset=utf-8',
      'content-length': '10',
      date: expect.any(String),
    });
    expect(result.error).toBeUndefined();
    const seen = server.requests.at(-1);
    expect(seen?.method).toBe('POST');
    expect(seen?.headers['user-agent']).toBe('pgdispatch');
    expect(verifyWebhook(secret, seen?.headers ?? {}, seen?.body ?? '')).toEqual({ order: 42 });
  });

  it.each([
    [500, 'temporary_error'],
    [502, 'temporary_error'],
    [503, 'temporary_error'],
    [501, 'permanent_error'],
    [400, 'invalid_argument'],
    [401, 'unauthenticated'],
    [403, 'permission_denied'],
    [404, 'not_found'],
    [408, 'timeout'],
    [410, 'permanent_error'],
    [422, 'permanent_error'],
    [429, 'throttled'],
    [204, 'ok'],
  ] as const)('HTTP %i is %s', async (code, status) => {
    const result = await sender.send({ url: `${server.url}/?code=${code}`, body: '{}' });
    expect(result.status).toBe(status);
    expect(result.httpStatus).toBe(code);
    expect(result.retryAfterMs).toBeUndefined();
    if (status !== 'ok') expect(result.error).toBe(`HTTP ${code}`);
  });

  it('does not follow redirects: 3xx is a permanent_error', async () => {
    for (const code of [301, 302, 307, 308]) {
      const before = server.requests.length;
      const result = await sender.send({ url: `${server.url}/?code=${code}`, body: '{}' });
      expect(result.status).toBe('permanent_error');
      expect(result.httpStatus).toBe(code);
      expect(result.response?.headers['location']).toBe(`${server.url}/elsewhere`);
      expect(server.requests.length).toBe(before + 1);
    }
    expect(server.requests.some((r) => r.url === '/elsewhere')).toBe(false);
  });

  it('reads Retry-After in seconds and as an HTTP date on 429 and 503', async () => {
    const seconds = await sender.send({ url: `${server.url}/?code=429&retry-after=7` });
    expect(seconds).toMatchObject({ status: 'throttled', retryAfterMs: 7000 });
    expect(seconds.response?.headers['retry-after']).toBe('7');

    const date = new Date(Date.now() + 120_000).toUTCString();
    const dated = await sender.send({
      url: `${server.url}/?code=503&retry-after=${encodeURIComponent(date)}`,
    });
    expect(dated.status).toBe('temporary_error');
    expect(dated.retryAfterMs).toBeGreaterThan(110_000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(120_000);

    const ignored = await sender.send({ url: `${server.url}/?code=500&retry-after=7` });
    expect(ignored.retryAfterMs).toBeUndefined();
  });

  it('keeps connections alive between attempts to one origin', async () => {
    const before = server.connections;
    for (let i = 0; i < 3; i++) await sender.send({ url: `${server.url}/`, body: '{}' });
    expect(server.connections - before).toBeLessThanOrEqual(1);
  });

  it('refuses to send after close', async () => {
    const closed = new WebhookSender({ guard: LOOPBACK });
    await closed.close();
    await expect(closed.send({ url: server.url })).rejects.toThrow(SenderClosedError);

    // A call already waiting for a slot when close() runs gets a retryable outcome.
    const closing = new WebhookSender({ guard: LOOPBACK, perOriginConcurrency: 1 });
    const slow = await serve((_req, res) => setTimeout(() => res.end('late'), 200));
    const first = closing.send({ url: slow.url });
    const queued = closing.send({ url: slow.url });
    await new Promise((r) => setTimeout(r, 50));
    const closed2 = closing.close();
    expect((await first).status).toBe('ok');
    expect(await queued).toMatchObject({
      status: 'temporary_error',
      error: expect.stringMatching(/WebhookSender is closed/),
    });
    await closed2;
    await slow.close();
  });
});

describe('network failures', () => {
  it('a server that never answers is a timeout (headers timeout)', async () => {
    const server = await serve(() => {});
    const sender = new WebhookSender({ guard: LOOPBACK, timeouts: FAST });
    const started = performance.now();
    const result = await sender.send({ url: server.url, body: '{}' });
    expect(result.status).toBe('timeout');
    expect(result.error).toMatch(/UND_ERR_HEADERS_TIMEOUT/);
    expect(result.error).toMatch(/no response headers within 300 ms/);
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
    expect(performance.now() - started).toBeLessThan(700);
    await sender.close();
    await server.close();
  });

  it('the total timeout and the caller signal bound the attempt too', async () => {
    const server = await serve(() => {});
    const sender = new WebhookSender({ guard: LOOPBACK });
    const total = await sender.send({
      url: server.url,
      timeouts: { headersMs: 5000, totalMs: 300 },
    });
    expect(total.status).toBe('timeout');
    expect(total.error).toMatch(/no response within 300 ms/);
    expect(total.durationMs).toBeGreaterThanOrEqual(250);
    expect(total.durationMs).toBeLessThan(1000);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const aborted = await sender.send({ url: server.url, signal: controller.signal });
    expect(aborted.status).toBe('timeout');
    expect(aborted.error).toMatch(/aborted by the caller/);
    await server.close();
    await sender.close();
  });

  it('a connection not made within connectMs is a timeout (here, a resolver that stalls)', async () => {
    const guard = new AddressGuard({ resolve: () => new Promise(() => {}) });
    const sender = new WebhookSender({ guard });
    const result = await sender.send({
      url: 'http://stalled.test/',
      timeouts: { connectMs: 200, headersMs: 5000, totalMs: 5000 },
    });
    expect(result.status).toBe('timeout');
    expect(result.error).toMatch(/UND_ERR_CONNECT_TIMEOUT/);
    expect(result.durationMs).toBeLessThan(1500);
    await sender.close();
  });

  it('a server that accepts then destroys the socket is a tcp_error', async () => {
    const tcp = await serveTcp((socket) => socket.destroy());
    const sender = new WebhookSender({ guard: LOOPBACK, timeouts: FAST });
    const result = await sender.send({ url: `http://127.0.0.1:${tcp.port}/`, body: '{}' });
    expect(result.status).toBe('tcp_error');
    await sender.close();
    await tcp.close();
  });

  it('a refused port is a tcp_error', async () => {
    const tcp = await serveTcp(() => {});
    const { port } = tcp;
    await tcp.close();
    const sender = new WebhookSender({ guard: LOOPBACK, timeouts: FAST });
    const result = await sender.send({ url: `http://127.0.0.1:${port}/`, body: '{}' });
    expect(result).toMatchObject({ status: 'tcp_error' });
    expect(result.error).toMatch(/ECONNREFUSED/);
    await sender.close();
  });

  it('a peer that does not speak HTTP is an invalid_response', async () => {
    const tcp = await serveTcp((socket) => socket.end('SMTP ready\r\n\r\n'));
    const sender = new WebhookSender({ guard: LOOPBACK, timeouts: FAST });
    const result = await sender.send({ url: `http://127.0.0.1:${tcp.port}/`, body: '{}' });
    expect(result.status).toBe('invalid_response');
    await sender.close();
    await tcp.close();
  });

  it('https to a plain-HTTP server is a tls_error', async () => {
    const server = await serve((_req, res) => res.end('plain'));
    const sender = new WebhookSender({ guard: LOOPBACK, timeouts: FAST });
    const result = await sender.send({ url: `https://127.0.0.1:${server.port}/`, body: '{}' });
    expect(result.status).toBe('tls_error');
    await sender.close();
    await server.close();
  });

  it('a DNS failure is a dns_error', async () => {
    const guard = new AddressGuard({
      resolve: async (hostname) => {
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      },
    });
    const sender = new WebhookSender({ guard, timeouts: FAST });
    const result = await sender.send({ url: 'http://missing.test/', body: '{}' });
    expect(result.status).toBe('dns_error');
    await sender.close();
  });
});

describe('bounded response bodies', () => {
  it('an endless body is truncated quickly without reading it into memory', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let written = 0;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) written += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('error', () => {});
      pump();
    });
    const sender = new WebhookSender({
      guard: LOOPBACK,
      timeouts: { totalMs: 10_000 },
      maxResponseBytes: 1000,
    });
    const before = process.memoryUsage().rss;
    const started = performance.now();
    const result = await sender.send({ url: server.url, body: '{}' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(result.status).toBe('ok');
    expect(result.error).toBeUndefined();
    expect(result.response?.truncated).toBe(true);
    expect(result.response?.body).toBe('x'.repeat(1000));
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toBeLessThan(16 * 1024 * 1024);
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
    await sender.close();
    await server.close();
  });

  it('a 100 MB body announced by Content-Length is cut at maxResponseBytes', async () => {
    const size = 100 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 'é');
    let written = 0;
    const server = await serve((_req, res) => {
      res.writeHead(500, { 'content-length': String(size) });
      const pump = (): void => {
        while (!res.destroyed && written < size && res.write(chunk)) written += chunk.length;
        if (!res.destroyed && written < size) res.once('drain', pump);
      };
      res.on('error', () => {});
      pump();
    });
    const sender = new WebhookSender({ guard: LOOPBACK, timeouts: FAST });
    const result = await sender.send({ url: server.url, body: '{}', maxResponseBytes: 16385 });
    expect(result.status).toBe('temporary_error');
    expect(result.response?.truncated).toBe(true);
    expect(result.response?.headers['content-length']).toBe(String(size));
    // 16385 bytes kept would end in half a two-byte character: it is dropped.
    expect(result.response?.body).toBe('é'.repeat(8192));
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toBeLessThan(size / 4);
    await sender.close();
    await server.close();
  });

  it('a body of exactly maxResponseBytes is not marked truncated', async () => {
    const server = await serve((_req, res) => res.end('y'.repeat(64)));
    const sender = new WebhookSender({ guard: LOOPBACK, maxResponseBytes: 64 });
    const result = await sender.send({ url: server.url });
    expect(result.response).toMatchObject({ body: 'y'.repeat(64), truncated: false });
    await sender.close();
    await server.close();
  });
});

describe('address guard in the sender', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serve((_req, res) => res.end('ok'));
  });
  afterAll(() => server.close());

  async function sendWith(
    guard: ConstructorParameters<typeof WebhookSender>[0],
    url: string,
  ): Promise<SendResult> {
    const sender = new WebhookSender({ ...guard, timeouts: FAST });
    try {
      return await sender.send({ url, body: '{}' });
    } finally {
      await sender.close();
    }
  }

  it('refuses loopback by default, before any packet is sent', async () => {
    const before = server.connections;
    for (const url of [
      server.url,
      `http://localhost:${server.port}/`,
      `http://[::ffff:127.0.0.1]:${server.port}/`,
    ]) {
      const result = await sendWith({}, url);
      expect(result.status, url).toBe('invalid_argument');
      expect(result.error).toMatch(/refused to connect to .* address is loopback/);
      expect(result.httpStatus).toBeUndefined();
    }
    expect(server.connections).toBe(before);
  });

  it('allows loopback when listed or when private networks are allowed', async () => {
    expect((await sendWith({ guard: { allow: ['127.0.0.1/32'] } }, server.url)).status).toBe('ok');
    expect((await sendWith({ guard: { allowPrivateNetworks: true } }, server.url)).status).toBe(
      'ok',
    );
    expect(
      (
        await sendWith(
          { guard: { allowPrivateNetworks: true } },
          `http://localhost:${server.port}/`,
        )
      ).status,
    ).toBe('ok');
  });

  it('a per-call guard overrides the sender guard', async () => {
    const sender = new WebhookSender({ timeouts: FAST });
    const refused = await sender.send({ url: server.url });
    const allowed = await sender.send({ url: server.url, guard: { allowPrivateNetworks: true } });
    expect([refused.status, allowed.status]).toEqual(['invalid_argument', 'ok']);
    await sender.close();
  });

  it('per-call guards with different resolvers do not share a pool', async () => {
    const sender = new WebhookSender({ timeouts: FAST });
    const toLoopback = async () => [{ address: '127.0.0.1', family: 4 }];
    const nowhere = async (hostname: string) => {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    };
    const url = `http://hooks.test:${server.port}/`;
    const one = await sender.send({ url, guard: { resolve: toLoopback, allow: ['hooks.test'] } });
    const two = await sender.send({ url, guard: { resolve: nowhere, allow: ['hooks.test'] } });
    expect([one.status, two.status]).toEqual(['ok', 'dns_error']);
    await sender.close();
  });

  it('checks the address undici actually connects to (resolver says loopback)', async () => {
    const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
    const before = server.connections;
    const refused = await sendWith(
      { guard: new AddressGuard({ resolve }) },
      `http://hooks.test:${server.port}/`,
    );
    expect(refused.status).toBe('invalid_argument');
    expect(refused.error).toContain('hooks.test at 127.0.0.1');
    expect(server.connections).toBe(before);

    const allowed = await sendWith(
      { guard: new AddressGuard({ resolve, allow: ['hooks.test'] }) },
      `http://hooks.test:${server.port}/`,
    );
    expect(allowed.status).toBe('ok');
    expect(server.requests.at(-1)?.headers.host).toBe(`hooks.test:${server.port}`);
  });

  it('refuses bad URLs as invalid_argument', async () => {
    for (const url of ['ftp://127.0.0.1/', 'http://u:p@127.0.0.1/', 'nope']) {
      expect((await sendWith({ guard: LOOPBACK }, url)).status, url).toBe('invalid_argument');
    }
    expect((await sendWith({ guard: { ...LOOPBACK, httpsOnly: true } }, server.url)).status).toBe(
      'invalid_argument',
    );
  });
});

describe('per-origin concurrency', () => {
  it('a slow origin holds its own slots only', async () => {
    let active = 0;
    let peak = 0;
    const slow = await serve((_req, res) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active--;
        res.end('slow');
      }, 600);
    });
    const fast = await serve((_req, res) => res.end('fast'));
    const sender = new WebhookSender({ guard: LOOPBACK, perOriginConcurrency: 2 });

    const slowCalls = Array.from({ length: 4 }, () => sender.send({ url: slow.url, body: '{}' }));
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    const quick = await sender.send({ url: fast.url, body: '{}' });
    const quickMs = performance.now() - started;
    expect(quick.status).toBe('ok');
    expect(quickMs).toBeLessThan(300);

    const results = await Promise.all(slowCalls);
    expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(peak).toBe(2);
    // Two waited for a slot; their durations do not count the wait.
    expect(results.filter((r) => (r.queuedMs ?? 0) >= 500)).toHaveLength(2);
    for (const r of results) expect(r.durationMs).toBeLessThan(1100);
    await sender.close();
    await slow.close();
    await fast.close();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it.each([
    ['0', 0],
    ['120', 120_000],
    [' 5 ', 5000],
    ['Wed, 01 Jan 2025 00:01:00 GMT', 60_000],
    ['Tue, 31 Dec 2024 23:00:00 GMT', 0],
    ['-5', undefined],
    ['1.5', undefined],
    ['2025-01-01', undefined],
    ['soon', undefined],
    ['', undefined],
  ] as const)('%j → %s', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
  it('handles absent and repeated headers', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
  });
});
