import type { Command } from '../common.js';
import { CONNECTION_USAGE } from '../common.js';
import { runtimeOf } from '../../sql/runtime.js';
import { JSON_USAGE } from '../json.js';
import { runBulkCommand } from '../bulk.js';

const usage = `Usage: pgdispatch retry <call-id> [--reason TEXT]
       pgdispatch retry --status failed [--function NAME] [--since DURATION]

Schedules failed or cancelled calls again, to run now. Attempt numbering
continues, and each call's history records the retry and who asked for it.
With filters, calls go in batches (one transaction each); a terminal shows a
progress bar.

Options:
  --status S[,S]       failed and/or cancelled (default: both)
  --function NAME      only calls of this function
  --since DURATION     only calls dispatched within DURATION (e.g. 1h, 1d)
  --reason TEXT        recorded in each call's history
  --batch-size N       calls per transaction (default: 1000)
${JSON_USAGE}
${CONNECTION_USAGE}`;

export const retryCommand: Command = {
  name: 'retry',
  summary: 'schedule failed or cancelled calls again',
  usage,
  run: (args) =>
    runBulkCommand(args, usage, {
      verb: 'retry',
      past: 'retried',
      allowed: ['failed', 'cancelled'],
      one: async (d, id, reason) => {
        const { rows } = await d.pool.query<{ done: boolean }>({
          ...runtimeOf(d).queries.retryOne,
          values: [id, `cli:${process.env['USER'] ?? 'unknown'}`, reason ?? null],
        });
        return rows[0]?.done === true;
      },
    }),
};
