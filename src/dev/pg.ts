#!/usr/bin/env node
/**
 * Runs the embedded Postgres in the foreground for development without Docker:
 *   node dist/dev/pg.js [--name demo|test] [--port N] [--data-dir DIR]
 * Prints `DATABASE_URL=...` on stdout (the only stdout line, so `eval`/`export` friendly),
 * progress on stderr, and stops the server on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from './embedded.js';

const USAGE = 'usage: node dist/dev/pg.js [--name demo|test] [--port N] [--data-dir DIR]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', default: 'demo' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stderr.write(`${USAGE}\n`);
    return;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new Error(`--port must be a TCP port, got ${values.port}`);
  }
  const logger = {
    info: (message: string) => process.stderr.write(`${message}\n`),
    warn: (message: string) => process.stderr.write(`${message}\n`),
  };
  const pg = await startEmbeddedPostgres({
    name: values.name,
    port,
    dataDir: values['data-dir'],
    logger,
  });
  process.stdout.write(`DATABASE_URL=${pg.url}\n`);
  process.stderr.write(`data in ${pg.dataDir}; Ctrl-C to stop\n`);

  // The server is a detached process: something must keep this one alive until a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  process.stderr.write(`${signal}: stopping\n`);
  await pg.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
