import { callStats } from '../../observe/read-model.js';
import { runtimeOf } from '../../sql/runtime.js';
import { printJson } from '../json.js';
import { type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { durationFlag, noExtraArgs, withDispatch } from '../options.js';
import { formatMs, printTable } from '../output.js';

const usage = `Usage: pgdispatch stats [options]

Per function: calls by status, and attempt latency percentiles (p50, p90, p99).

Options:
  --since DURATION     calls dispatched and attempts finished within DURATION
                       (default: all time; e.g. 1h, 1d)
  --json               JSON instead of a table
${CONNECTION_USAGE}`;

const COLUMNS = ['pending', 'retrying', 'succeeded', 'failed', 'cancelled'] as const;

export const statsCommand: Command = {
  name: 'stats',
  summary: 'per-function counts by status and latency percentiles',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, {
      since: { type: 'string' },
      json: { type: 'boolean' },
    });
    noExtraArgs(positionals, 0, usage);
    const since = durationFlag(values.since, '--since');
    const rows = await withDispatch(values, (d) => callStats(runtimeOf(d), since));
    if (values.json) {
      printJson(rows);
      return 0;
    }
    if (rows.length === 0) {
      console.log('no calls');
      return 0;
    }
    printTable(
      ['FUNCTION', ...COLUMNS.map((c) => c.toUpperCase()), 'ATTEMPTS', 'P50', 'P90', 'P99'],
      rows.map((r) => [
        r.function,
        ...COLUMNS.map((c) =>
          String((r.counts[c] ?? 0) + (c === 'pending' ? (r.counts['running'] ?? 0) : 0)),
        ),
        String(r.attempts),
        formatMs(r.p50),
        formatMs(r.p90),
        formatMs(r.p99),
      ]),
    );
    return 0;
  },
};
