import { filterParams } from '../../dispatch/bulk.js';
import { listCalls } from '../../observe/read-model.js';
import { runtimeOf } from '../../sql/runtime.js';
import { printJson } from '../json.js';
import { type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { durationFlag, intFlag, noExtraArgs, statusesFlag, withDispatch } from '../options.js';
import { formatAge, formatTime, printTable } from '../output.js';

const usage = `Usage: pgdispatch calls [options]

Lists calls, newest first.

Options:
  --status S[,S]       only calls in these statuses (pending, running, retrying,
                       succeeded, failed, cancelled)
  --function NAME      only calls of this function
  --since DURATION     only calls dispatched within DURATION (e.g. 30m, 1h, 7d)
  --limit N            at most N calls (default: 50)
  --json               one JSON array instead of a table
${CONNECTION_USAGE}`;

export const callsCommand: Command = {
  name: 'calls',
  summary: 'list calls (filter by status, function, age)',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, {
      status: { type: 'string' },
      function: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    });
    noExtraArgs(positionals, 0, usage);
    const filter = filterParams({
      status: statusesFlag(values.status),
      function: values.function,
      sinceMs: durationFlag(values.since, '--since'),
    });
    const limit = intFlag(values.limit, '--limit', { max: 100_000 }) ?? 50;
    const rows = await withDispatch(values, (d) => listCalls(runtimeOf(d), filter, limit));
    if (values.json) {
      printJson(rows);
      return 0;
    }
    if (rows.length === 0) {
      console.log('no calls match');
      return 0;
    }
    printTable(
      ['ID', 'FUNCTION', 'STATUS', 'ATTEMPTS', 'CREATED', 'NEXT ATTEMPT', 'LAST ERROR'],
      rows.map((r) => [
        r.id,
        r.function,
        r.status,
        String(r.attempts),
        formatTime(r.created_at),
        r.next_attempt_at ? formatAge(r.next_attempt_at) : '-',
        r.last_error ?? '',
      ]),
    );
    return 0;
  },
};
