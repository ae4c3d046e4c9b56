/**
 * `retry` and `cancel` share their shape: one call by id, or every call
 * matching a filter, in batches, with a progress bar on a terminal.
 */
import type { Dispatch } from '../client.js';
import { type BulkOptions, type BulkResult, cancelCalls, retryCalls } from '../dispatch/bulk.js';
import type { CallStatus } from '../core/outcome.js';
import { CliError, parseCommandArgs } from './common.js';
import {
  callIdArg,
  durationFlag,
  intFlag,
  noExtraArgs,
  statusesFlag,
  withDispatch,
} from './options.js';
import { printJson } from './json.js';
import { progressBar } from './output.js';

export interface BulkVerb {
  verb: 'retry' | 'cancel';
  past: string;
  allowed: readonly CallStatus[];
  one(d: Dispatch, id: string, reason: string | undefined): Promise<boolean>;
}

const actor = () => `cli:${process.env['USER'] ?? 'unknown'}`;

export async function runBulkCommand(args: string[], usage: string, v: BulkVerb): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, usage, {
    status: { type: 'string' },
    function: { type: 'string' },
    since: { type: 'string' },
    reason: { type: 'string' },
    'batch-size': { type: 'string' },
    json: { type: 'boolean' },
  });
  noExtraArgs(positionals, 1, usage);
  const filtered =
    values.status !== undefined || values.function !== undefined || values.since !== undefined;
  if (positionals.length === 1) {
    if (filtered) {
      throw new CliError(
        `give a call id or filters (--status, --function, --since), not both\n\n${usage}`,
        2,
      );
    }
    const id = callIdArg(positionals[0], usage);
    const changed = await withDispatch(values, (d) => v.one(d, id, values.reason));
    if (!changed) {
      throw new CliError(
        `call ${id} was not ${v.past}: only ${v.allowed.join(' or ')} calls can be`,
        1,
        'INVALID_STATE',
      );
    }
    if (values.json) printJson({ action: v.verb, call_id: id, matched: 1, changed: 1 });
    else console.log(`call ${id} ${v.past}`);
    return 0;
  }
  if (!filtered) {
    throw new CliError(
      `give a call id, or select calls with --status, --function or --since\n\n${usage}`,
      2,
    );
  }
  const options: BulkOptions = {
    actor: actor(),
    batchSize: intFlag(values['batch-size'], '--batch-size', { max: 100_000 }) ?? 1000,
  };
  const status = statusesFlag(values.status, v.allowed);
  if (status) options.status = status;
  if (values.function !== undefined) options.function = values.function;
  const since = durationFlag(values.since, '--since');
  if (since !== undefined) options.sinceMs = since;
  if (values.reason !== undefined) options.reason = values.reason;
  const bar = progressBar(v.verb);
  options.onProgress = (p) => bar.update(p.done, p.total);
  let result: BulkResult;
  try {
    result = await withDispatch(values, (d) =>
      v.verb === 'retry' ? retryCalls(d, options) : cancelCalls(d, options),
    );
  } finally {
    bar.end();
  }
  if (values.json) {
    printJson({ action: v.verb, matched: result.matched, changed: result.changed });
  } else {
    console.log(`${v.past} ${result.changed} of ${result.matched} matching call(s)`);
  }
  return 0;
}
