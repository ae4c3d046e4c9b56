import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Dispatch } from '../../dispatch.js';
import { CliError, type Command, withUsage } from '../common.js';

const usage = `Usage: pgdispatch worker --module <path> [options]

Runs the functions of a module whose default export is the dispatch instance
(createDispatch(...)). Stops on SIGTERM/SIGINT: running attempts get the grace
period to finish, the rest are released to run again at once.

Options:
  --module PATH          module to load, e.g. ./dist/functions.js (required)
  --concurrency N        attempts run at once (default: 25)
  --grace-period MS      time running attempts get to finish on stop (default: 10000)
  --poll-interval MS     poll for scheduled retries every MS (default: 1000)

The module's instance decides the database (its connectionString, or DATABASE_URL).`;

const options = {
  module: { type: 'string' },
  concurrency: { type: 'string' },
  'grace-period': { type: 'string' },
  'poll-interval': { type: 'string' },
} as const;

export function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new CliError(`${flag} must be a positive integer, got "${value}"`, 2);
  }
  return n;
}

/** Loads the user's module and checks that its default export is a dispatch instance. */
export async function loadInstance(path: string): Promise<Dispatch> {
  const url = pathToFileURL(resolve(path)).href;
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(resolve(path))) {
      throw new CliError(`cannot find module ${path} (did you build it?)`);
    }
    throw new CliError(`cannot load module ${path}: ${e.message}`);
  }
  const instance = mod.default as Partial<Dispatch> | undefined;
  if (!instance || typeof instance.worker !== 'function' || !(instance.functions instanceof Map)) {
    throw new CliError(
      `${path} must have a default export created by createDispatch(): export default dispatch;`,
    );
  }
  return instance as Dispatch;
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run the functions of a module',
  usage,
  async run(args) {
    const { values } = withUsage(usage, () => parseArgs({ args, options: options, strict: true }));
    if (!values.module) throw new CliError(`--module is required\n\n${usage}`, 2);
    const concurrency = positiveInt(values.concurrency, '--concurrency', 25);
    const gracePeriodMs = positiveInt(values['grace-period'], '--grace-period', 10_000);
    const pollIntervalMs = positiveInt(values['poll-interval'], '--poll-interval', 1_000);
    const dispatch = await loadInstance(values.module);
    if (dispatch.functions.size === 0) {
      throw new CliError(`${values.module} registers no functions: call dispatch.func(...) in it`);
    }
    const worker = await dispatch.worker({
      concurrency,
      gracePeriodMs,
      pollIntervalMs,
      handleSignals: true,
    });
    try {
      await worker.done;
    } finally {
      await dispatch.close();
    }
    return 0;
  },
};
