/**
 * The webhook receiver: its own process, node:http on 127.0.0.1 (port 0),
 * answers 200 at once and counts requests; the orchestrator asks for the
 * count and the times of the first and last request over IPC.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ToReceiver } from './ipc.js';
import { now } from './lib.js';

let count = 0;
let first: number | null = null;
let last: number | null = null;

const server = createServer((req, res) => {
  // Read the body like a real endpoint would, then answer.
  req.on('data', () => undefined);
  req.on('end', () => {
    const t = now();
    count++;
    first ??= t;
    last = t;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
});
// Clients hold keep-alive connections across pauses between phases.
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', port });
});

process.on('message', (msg: ToReceiver) => {
  if (msg.type === 'reset') {
    count = 0;
    first = null;
    last = null;
  }
  process.send?.({ type: 'stats', id: msg.id, count, first, last });
});

process.on('disconnect', () => {
  server.close();
  server.closeAllConnections();
});
