/**
 * Worker processes for the operations tests: the real `pgdispatch worker`
 * command from dist/, its output kept for the failure message.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const OPS_FIXTURE = 'test/fixtures/ops-functions.mjs';

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | string>;
}

export function spawnWorker(args: string[], env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [CLI, 'worker', '--module', OPS_FIXTURE, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1));
  });
  return { child, output: () => out, exited };
}

/** Runs the CLI to completion. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export interface Hit {
  callId: string;
  attempt: number;
  at: number;
}

export interface CountingReceiver {
  url: string;
  hits: Hit[];
  close(): Promise<void>;
}

/** Records each delivery; `respond` decides the answer (default: 200 after `delayMs`). */
export async function startCountingReceiver(
  respond?: (hit: Hit, req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
  delayMs = 0,
): Promise<CountingReceiver> {
  const hits: Hit[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<Hit, 'at'>;
    const hit = { callId: String(body.callId), attempt: body.attempt, at: Date.now() };
    hits.push(hit);
    if (respond) {
      await respond(hit, req, res);
      return;
    }
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
