/**
 * A real HTTP receiver on 127.0.0.1, port 0, that records every request and
 * answers with whatever the test scripts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

export type Responder = (req: Received, n: number, res: ServerResponse) => void | Promise<void>;

export interface Receiver {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

export async function startReceiver(
  respond: Responder = (_r, _n, res) => {
    res.end('ok');
  },
): Promise<Receiver> {
  const requests: Received[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const r: Received = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
    requests.push(r);
    await respond(r, requests.length, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
