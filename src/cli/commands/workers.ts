import { listWorkers } from '../../observe/read-model.js';
import { printJson } from '../json.js';
import { type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { noExtraArgs, withDispatch } from '../options.js';
import { formatAge, formatTime, printTable } from '../output.js';

const usage = `Usage: pgdispatch workers [options]

Lists registered workers with the age of their last heartbeat. A worker whose
heartbeat is older than the rescue threshold (default 30s) is presumed dead:
the next live worker releases its calls and removes it.

Options:
  --json               JSON instead of a table
${CONNECTION_USAGE}`;

export const workersCommand: Command = {
  name: 'workers',
  summary: 'list live workers and their heartbeats',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, { json: { type: 'boolean' } });
    noExtraArgs(positionals, 0, usage);
    const rows = await withDispatch(values, (d) => listWorkers(d));
    if (values.json) {
      printJson(rows);
      return 0;
    }
    if (rows.length === 0) {
      console.log('no workers registered');
      return 0;
    }
    printTable(
      ['ID', 'HOST', 'PID', 'STARTED', 'HEARTBEAT', 'CONCURRENCY', 'JOBS', 'VERSION', 'FUNCTIONS'],
      rows.map((w) => [
        w.id,
        w.host,
        String(w.pid),
        formatTime(w.started_at),
        formatAge(new Date(Date.now() - w.heartbeat_age_s * 1000)),
        String(w.concurrency),
        String(w.locked_jobs),
        w.version ?? '-',
        w.functions.join(','),
      ]),
    );
    return 0;
  },
};
