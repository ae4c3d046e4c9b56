import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createDashboard } from '../../dashboard/index.js';
import { assertSchemaName } from '../../core/ident.js';
import { CliError, type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { JSON_USAGE, printJsonLine } from '../json.js';
import { intFlag, noExtraArgs } from '../options.js';

const usage = `Usage: pgdispatch dashboard [options]

Serves the dashboard: calls, their timelines, functions and their stats,
endpoints, workers, retry policies and a live tail of attempts. Prints a URL
with a one-time token; opening it once signs that browser in.

Options:
  --port N             port to listen on; 0 picks a free one (default: 4000)
  --host ADDR          address to listen on (default: 127.0.0.1)
  --base-path PATH     serve under this path, e.g. /pgdispatch (default: /)
  --read-only          pages only: every action is refused with a 403
${JSON_USAGE}: a JSON line when listening (with the
                       url) and when stopped, with "event"
${CONNECTION_USAGE}`;

export const dashboardCommand: Command = {
  name: 'dashboard',
  summary: 'serve the web dashboard',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, {
      port: { type: 'string' },
      host: { type: 'string' },
      'base-path': { type: 'string' },
      'read-only': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    noExtraArgs(positionals, 0, usage);
    const port = intFlag(values.port, '--port', { min: 0, max: 65535 }) ?? 4000;
    const host = values.host ?? '127.0.0.1';
    const connectionString = values['database-url'] ?? process.env['DATABASE_URL'];
    if (!connectionString) throw new CliError('no database: set DATABASE_URL or pass --database-url', 2);
    let schema: string;
    try {
      schema = assertSchemaName(values.schema ?? 'pgdispatch');
    } catch (err) {
      throw new CliError((err as Error).message, 2);
    }
    const basePath = (values['base-path'] ?? '').replace(/\/+$/, '');
    if (basePath && !/^\/[A-Za-z0-9._~/-]*$/.test(basePath))
      throw new CliError(`--base-path must be a path such as /pgdispatch, got "${basePath}"`, 2);
    const token = randomBytes(18).toString('base64url');
    const dashboard = createDashboard({
      connectionString,
      schema,
      basePath,
      readOnly: values['read-only'] ?? false,
      oneTimeToken: token,
    });
    const server = createServer(dashboard.node);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    const url = `http://${shownHost}:${actual}${basePath}/?token=${token}`;
    if (values.json) {
      printJsonLine({ event: 'listening', url, read_only: values['read-only'] ?? false });
    } else {
      console.log(`pgdispatch dashboard${values['read-only'] ? ' (read-only)' : ''}: ${url}`);
      console.log('The token works once: it signs in the first browser that opens it.');
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await dashboard.close();
    if (values.json) printJsonLine({ event: 'stopped' });
    return 0;
  },
};
