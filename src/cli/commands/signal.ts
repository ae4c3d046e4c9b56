import { CliError, type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { JSON_USAGE, printJson } from '../json.js';
import { noExtraArgs, withDispatch } from '../options.js';

const usage = `Usage: pgdispatch signal <key> [--payload JSON] [--json]

Sends a signal: the workflow waiting on <key> in ctx.waitFor receives the
payload and wakes; with none waiting yet, the signal is kept for the first
that does. Same as select pgdispatch.signal(key, payload).

Options:
  --payload JSON       what waitFor returns (default: null)
${JSON_USAGE}
${CONNECTION_USAGE}`;

export const signalCommand: Command = {
  name: 'signal',
  summary: 'send a signal to a waiting workflow',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, {
      payload: { type: 'string' },
      json: { type: 'boolean' },
    });
    noExtraArgs(positionals, 1, usage);
    const key = positionals[0];
    if (!key) throw new CliError(`a signal key is required\n\n${usage}`);
    let payload: unknown = null;
    if (values.payload !== undefined) {
      try {
        payload = JSON.parse(values.payload);
      } catch (err) {
        throw new CliError(`--payload is not JSON: ${(err as Error).message}`);
      }
    }
    const id = await withDispatch(values, (d) => d.signal(key, payload));
    if (values.json) printJson({ action: 'signal', id, key });
    else console.log(`signal ${id} sent to ${key}`);
    return 0;
  },
};
