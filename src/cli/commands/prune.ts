import { formatCompact } from '../../core/duration.js';
import { pruneCalls } from '../../maintain/prune.js';
import { CliError, type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { JSON_USAGE, printJson } from '../json.js';
import { durationFlag, intFlag, noExtraArgs, withDispatch } from '../options.js';

const usage = `Usage: pgdispatch prune --older-than DURATION [options]

Deletes finished calls (succeeded, failed, cancelled) that finished more than
DURATION ago, with their attempts and history, in small batches so no lock is
held for long. Pending and retrying calls are never pruned.

Options:
  --older-than DURATION  e.g. 7d, 12h (required)
  --batch-size N         calls deleted per statement (default: 1000)
${JSON_USAGE}
${CONNECTION_USAGE}`;

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'delete finished calls older than a given age',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, {
      'older-than': { type: 'string' },
      'batch-size': { type: 'string' },
      json: { type: 'boolean' },
    });
    noExtraArgs(positionals, 0, usage);
    const olderThanMs = durationFlag(values['older-than'], '--older-than');
    if (olderThanMs === undefined) throw new CliError(`--older-than is required\n\n${usage}`, 2);
    const batchSize = intFlag(values['batch-size'], '--batch-size', { max: 100_000 }) ?? 1000;
    const deleted = await withDispatch(values, (d) => pruneCalls(d, { olderThanMs, batchSize }));
    if (values.json) printJson({ action: 'prune', deleted, older_than_ms: olderThanMs });
    else console.log(`pruned ${deleted} finished call(s) older than ${formatCompact(olderThanMs)}`);
    return 0;
  },
};
