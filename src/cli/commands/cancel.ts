import type { Command } from '../common.js';
import { CONNECTION_USAGE } from '../common.js';
import { JSON_USAGE } from '../json.js';
import { runBulkCommand } from '../bulk.js';

const usage = `Usage: pgdispatch cancel <call-id> [--reason TEXT]
       pgdispatch cancel --function NAME [--status retrying] [--since DURATION]

Cancels pending, retrying or waiting calls: they will not run again; a
workflow's open children are cancelled with it. An attempt running
at that moment finishes and is recorded, but schedules nothing. With filters,
calls go in batches (one transaction each); a terminal shows a progress bar.

Options:
  --status S[,S]       pending, retrying and/or waiting (default: all)
  --function NAME      only calls of this function
  --since DURATION     only calls dispatched within DURATION (e.g. 1h, 1d)
  --reason TEXT        recorded in each call's history
  --batch-size N       calls per transaction (default: 1000)
${JSON_USAGE}
${CONNECTION_USAGE}`;

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel pending or retrying calls',
  usage,
  run: (args) =>
    runBulkCommand(args, usage, {
      verb: 'cancel',
      past: 'cancelled',
      allowed: ['pending', 'running', 'retrying', 'waiting'],
      one: (d, id, reason) =>
        d.cancel(id, {
          actor: `cli:${process.env['USER'] ?? 'unknown'}`,
          ...(reason ? { reason } : {}),
        }),
    }),
};
