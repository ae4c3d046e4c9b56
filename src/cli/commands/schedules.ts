import type { ParseArgsConfig } from 'node:util';
import { assertCatchUp, assertScheduleName, parseCron } from '../../core/cron.js';
import type { Schedule } from '../../schedule/schedules.js';
import { CliError, type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { JSON_USAGE, printJson } from '../json.js';
import { intFlag, withDispatch } from '../options.js';
import { formatAge, formatTime, printTable } from '../output.js';

const usage = `Usage: pgdispatch schedules [list] [--json]
       pgdispatch schedules set <name> --cron EXPR --function NAME [options]
       pgdispatch schedules enable <name>
       pgdispatch schedules disable <name>
       pgdispatch schedules remove <name>

Cron schedules: each tick of a schedule dispatches one call of its function,
whatever the number of workers. A change applies from the next tick. set on an
existing schedule changes only the options given.

Options of set:
  --cron EXPR          five fields (minute hour day month weekday), six with
                       seconds first, or @hourly, @daily, ...
  --function NAME      the function each tick calls
  --timezone TZ        IANA zone the expression is read in (default: UTC)
  --input JSON         the input of every call (default: null)
  --catch-up N         after a downtime, run the latest N missed ticks; 0
                       skips them (default: 0)
  --description TEXT
Other options:
${JSON_USAGE}
${CONNECTION_USAGE}`;

const options = {
  cron: { type: 'string' },
  function: { type: 'string' },
  timezone: { type: 'string' },
  input: { type: 'string' },
  'catch-up': { type: 'string' },
  description: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

const ACTIONS = ['list', 'set', 'enable', 'disable', 'remove'] as const;
const SET_ONLY = ['cron', 'function', 'timezone', 'input', 'catch-up', 'description'] as const;

export const schedulesCommand: Command = {
  name: 'schedules',
  summary: 'list cron schedules, or set, enable, disable, remove one',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, options);
    const [action = 'list', name, extra] = positionals;
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new CliError(`unknown action "${action}": one of ${ACTIONS.join(', ')}\n\n${usage}`, 2);
    }
    if (extra !== undefined) throw new CliError(`unexpected argument "${extra}"\n\n${usage}`, 2);
    if (action === 'list') {
      if (name !== undefined) throw new CliError(`unexpected argument "${name}"\n\n${usage}`, 2);
      return list(values);
    }
    if (!name) throw new CliError(`schedules ${action} needs a schedule name\n\n${usage}`, 2);
    assertScheduleName(name);
    if (action !== 'set') {
      const stray = SET_ONLY.find((k) => values[k] !== undefined);
      if (stray) throw new CliError(`--${stray} is an option of "schedules set"\n\n${usage}`, 2);
      const verb = action as 'enable' | 'disable' | 'remove';
      await withDispatch(values, (d) => d.schedules[verb](name));
      if (values.json) printJson({ action: `schedules.${verb}`, name });
      else console.log(`schedule ${name} ${action === 'remove' ? 'removed' : `${action}d`}`);
      return 0;
    }
    let input: unknown;
    if (values.input !== undefined) {
      try {
        input = JSON.parse(values.input);
      } catch {
        throw new CliError(`--input must be JSON, got ${values.input}`, 2);
      }
    }
    const catchUp = intFlag(values['catch-up'], '--catch-up', { min: -1_000_000 });
    if (catchUp !== undefined) assertCatchUp(catchUp);
    // Checked before connecting: a bad expression writes nothing.
    if (values.cron !== undefined && values.timezone !== undefined) {
      parseCron(values.cron, values.timezone);
    } else if (values.cron !== undefined) {
      parseCron(values.cron);
    }
    const s = await withDispatch(values, (d) =>
      d.schedules.set(name, {
        ...(values.cron !== undefined && { cron: values.cron }),
        ...(values.function !== undefined && { function: values.function }),
        ...(values.timezone !== undefined && { timezone: values.timezone }),
        ...(values.input !== undefined && { input }),
        ...(catchUp !== undefined && { catchUp }),
        ...(values.description !== undefined && { description: values.description }),
      }),
    );
    if (values.json) printJson({ action: 'schedules.set', schedule: s });
    else console.log(`schedule ${s.name} set: ${s.cron} (${s.timezone}) -> ${s.function}`);
    return 0;
  },
};

async function list(values: Parameters<typeof withDispatch>[0] & { json?: boolean | undefined }) {
  const rows = await withDispatch(values, (d) => d.schedules.list());
  if (values.json) {
    printJson(rows);
    return 0;
  }
  printTable(
    [
      'NAME',
      'CRON',
      'TIMEZONE',
      'FUNCTION',
      'STATE',
      'CATCH UP',
      'NEXT TICK',
      'LAST TICK',
      'ERROR',
    ],
    rows.map((s: Schedule) => [
      s.name,
      s.cron,
      s.timezone,
      s.function,
      s.error !== null ? 'error' : s.enabled ? 'enabled' : 'disabled',
      s.catch_up === 0 ? 'skip' : String(s.catch_up),
      s.next_tick ? `${formatTime(s.next_tick)} (${formatAge(s.next_tick)})` : '-',
      s.last_tick ? `${formatTime(s.last_tick)} call ${s.last_call_id}` : '-',
      s.error ?? '',
    ]),
    80,
  );
  return 0;
}
