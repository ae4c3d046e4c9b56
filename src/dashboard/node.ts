/**
 * node:http (and Express, Fastify's raw request, Connect) to the Fetch API
 * and back, streaming the response so the live tail's events flow.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

type Fetch = (request: Request) => Promise<Response>;

/** Express strips its mount path from req.url and keeps the whole one here. */
type MaybeExpress = IncomingMessage & { originalUrl?: string; body?: unknown };

export function toNodeHandler(fetch: Fetch, base: string) {
  return (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    serve(fetch, base, req as MaybeExpress, res).catch((err: unknown) => {
      if (next) next(err);
      else if (!res.headersSent) {
        res.statusCode = 500;
        res.end('pgdispatch dashboard: internal error');
      } else res.destroy();
    });
  };
}

async function serve(fetch: Fetch, base: string, req: MaybeExpress, res: ServerResponse) {
  let path = req.originalUrl ?? req.url ?? '/';
  // Mounted by a router that strips the prefix and keeps no original URL.
  if (base && !path.startsWith(base)) path = `${base}${path.startsWith('/') ? '' : '/'}${path}`;
  const forwarded = String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim();
  const proto =
    forwarded === 'https' || forwarded === 'http'
      ? forwarded
      : (req.socket as { encrypted?: boolean }).encrypted
        ? 'https'
        : 'http';
  const url = new URL(path, `${proto}://${req.headers.host ?? 'localhost'}`);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else headers.set(k, v);
  }
  const init: RequestInit & { duplex?: 'half' } = { method: req.method ?? 'GET', headers };
  if (init.method !== 'GET' && init.method !== 'HEAD') {
    if (req.body !== undefined && req.readableEnded) {
      // A body parser (express.urlencoded) got there first.
      const b = req.body;
      init.body =
        typeof b === 'string'
          ? b
          : new URLSearchParams(Object.entries(b as Record<string, string>)).toString();
    } else {
      init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    }
  }
  const controller = new AbortController();
  res.on('close', () => controller.abort());
  init.signal = controller.signal;
  const response = await fetch(new Request(url, init));
  res.statusCode = response.status;
  for (const [k, v] of response.headers) if (k !== 'set-cookie') res.setHeader(k, v);
  const cookies = response.headers.getSetCookie();
  if (cookies.length) res.setHeader('set-cookie', cookies);
  if (!response.body) {
    res.end();
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  res.on('close', () => {
    reader.cancel().catch(() => undefined);
  });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.write(value)) await new Promise((r) => res.once('drain', r));
  }
  res.end();
}
