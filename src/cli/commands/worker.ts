import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Dispatch } from '../../client.js';
import type { WorkerOptions } from '../../worker/start.js';
import { CliError, type Command, withUsage } from '../common.js';
import { printJsonLine } from '../json.js';
import { durationFlag, intFlag } from '../options.js';

const usage = `Usage: pgdispatch worker --module <path> [options]

Runs the functions of a module whose default export is the dispatch instance
(createDispatch(...)). Stops on SIGTERM/SIGINT: running attempts get the grace
period to finish, the rest are released to run again at once.

Options:
  --module PATH          module to load, e.g. ./dist/functions.js (required)
  --concurrency N        attempts run at once (default: 25)
  --prefetch N           claimed jobs kept waiting for a free slot (default: the
                         concurrency, at least 64; 0 claims only for free slots)
  --grace-period MS      time running attempts get to finish on stop (default: 10000)
  --poll-interval MS     poll for jobs that became due every MS (default: 1000)
  --metrics-port PORT    serve Prometheus /metrics and /healthz on PORT
  --metrics-host ADDR    address the metrics server binds (default: 0.0.0.0)
  --heartbeat-interval D how often the worker heartbeats (default: 5s)
  --rescue-after D       release the calls of a worker silent this long (default: 30s)
  --retention D|off      prune finished calls older than D (default: 30d; off:
                         leave it to \`pgdispatch prune\`)
  --json                 a JSON line on stdout when the worker has started and
                         when it has stopped, with "event" (see docs/cli.md)
  --schedules on|off     take part in dispatching the ticks of cron schedules
                         (default: on)

The module's instance decides the database (its connectionString, or DATABASE_URL).`;

const options = {
  module: { type: 'string' },
  concurrency: { type: 'string' },
  prefetch: { type: 'string' },
  'grace-period': { type: 'string' },
  'poll-interval': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'heartbeat-interval': { type: 'string' },
  'rescue-after': { type: 'string' },
  retention: { type: 'string' },
  json: { type: 'boolean' },
  schedules: { type: 'string' },
} as const;

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
    const concurrency = intFlag(values.concurrency, '--concurrency') ?? 25;
    const prefetch = intFlag(values.prefetch, '--prefetch', { min: 0 });
    const gracePeriodMs = intFlag(values['grace-period'], '--grace-period') ?? 10_000;
    const pollIntervalMs = intFlag(values['poll-interval'], '--poll-interval') ?? 1_000;
    const ops = workerOpsOptions(values);
    const dispatch = await loadInstance(values.module);
    if (dispatch.functions.size === 0) {
      throw new CliError(`${values.module} registers no functions: call dispatch.func(...) in it`);
    }
    const worker = await dispatch.worker({
      concurrency,
      ...(prefetch === undefined ? {} : { prefetch }),
      gracePeriodMs,
      pollIntervalMs,
      handleSignals: true,
      handleRejections: true,
      ...ops,
    });
    if (values.json) {
      printJsonLine({
        event: 'started',
        worker_id: worker.id,
        host: hostname(),
        pid: process.pid,
        concurrency,
        functions: [...dispatch.functions.keys()],
        metrics_port: worker.metricsPort ?? null,
      });
    }
    try {
      await worker.done;
    } finally {
      await dispatch.close();
    }
    if (values.json) printJsonLine({ event: 'stopped', worker_id: worker.id });
    return 0;
  },
};

/** The heartbeat, rescue, retention and metrics flags, checked before the module loads. */
function workerOpsOptions(values: {
  'metrics-port'?: string | undefined;
  'metrics-host'?: string | undefined;
  'heartbeat-interval'?: string | undefined;
  'rescue-after'?: string | undefined;
  retention?: string | undefined;
  schedules?: string | undefined;
}): WorkerOptions {
  const o: WorkerOptions = {};
  const port = intFlag(values['metrics-port'], '--metrics-port', { min: 0, max: 65_535 });
  if (port !== undefined) o.metricsPort = port;
  if (values['metrics-host'] !== undefined) o.metricsHost = values['metrics-host'];
  const heartbeat = durationFlag(values['heartbeat-interval'], '--heartbeat-interval');
  if (heartbeat !== undefined) o.heartbeatIntervalMs = heartbeat;
  const rescue = durationFlag(values['rescue-after'], '--rescue-after');
  if (rescue !== undefined) o.rescueAfterMs = rescue;
  if ((o.rescueAfterMs ?? 30_000) <= (o.heartbeatIntervalMs ?? 5_000)) {
    throw new CliError('--rescue-after must be longer than --heartbeat-interval', 2);
  }
  if (values.retention === 'off') o.retention = false;
  else {
    const age = durationFlag(values.retention, '--retention');
    if (age !== undefined) o.retention = { olderThanMs: age };
  }
  if (values.schedules === 'off') o.schedules = false;
  else if (values.schedules !== undefined && values.schedules !== 'on') {
    throw new CliError(`--schedules must be on or off, got "${values.schedules}"`, 2);
  }
  return o;
}
