import { formatCompact } from '../../core/duration.js';
import type { Dispatch } from '../../client.js';
import { listPolicies, type PolicyRow } from '../../observe/read-model.js';
import { runtimeOf } from '../../sql/runtime.js';
import { CliError, type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { durationFlag, intFlag, noExtraArgs, numberFlag, withDispatch } from '../options.js';
import { JSON_USAGE, printJson } from '../json.js';
import { printTable } from '../output.js';

const usage = `Usage: pgdispatch policies [--json]
       pgdispatch policies set <name> --delays 5s,1m,10m [options]
       pgdispatch policies set <name> --base 1s [--factor 2] [--cap 1h] [options]

Lists retry policies, or creates or changes one. A change applies to the next
attempt of calls already in flight.

Options of set:
  --delays D,D,...     explicit schedule: the wait after attempt 1, 2, ... (the
                       last repeats)
  --base D             exponential schedule: base * factor^(n-1), capped
  --factor F           growth factor, >= 1 (default: 2)
  --cap D              longest wait (default: 1h, or the base if longer)
  --jitter J           each wait scaled by a random factor in [1-J, 1+J], 0..1
  --max-attempts N     attempts before a call fails (default for a new policy: 25)
  --max-age D|none     a call older than this is not retried again
  --description TEXT
${JSON_USAGE}
${CONNECTION_USAGE}`;

export const policiesCommand: Command = {
  name: 'policies',
  summary: 'list retry policies, or set one',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, {
      json: { type: 'boolean' },
      delays: { type: 'string' },
      base: { type: 'string' },
      factor: { type: 'string' },
      cap: { type: 'string' },
      jitter: { type: 'string' },
      'max-attempts': { type: 'string' },
      'max-age': { type: 'string' },
      description: { type: 'string' },
    });
    if (positionals.length === 0) {
      const setOnly = [
        'delays',
        'base',
        'factor',
        'cap',
        'jitter',
        'max-attempts',
        'max-age',
        'description',
      ];
      const stray = setOnly.find((k) => (values as Record<string, unknown>)[k] !== undefined);
      if (stray)
        throw new CliError(`--${stray} is an option of "policies set <name>"\n\n${usage}`, 2);
      return list(values);
    }
    if (positionals[0] !== 'set') {
      throw new CliError(`unknown subcommand "${positionals[0]}"\n\n${usage}`, 2);
    }
    noExtraArgs(positionals, 2, usage);
    const name = positionals[1];
    if (!name) throw new CliError(`policies set needs a policy name\n\n${usage}`, 2);
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
      throw new CliError(`invalid policy name "${name}": use 1-64 letters, digits and _.:-`, 2);
    }
    if (values.delays !== undefined && values.base !== undefined) {
      throw new CliError('give either --delays or --base (with --factor and --cap), not both', 2);
    }
    if (values.base === undefined && (values.factor !== undefined || values.cap !== undefined)) {
      throw new CliError('--factor and --cap go with --base', 2);
    }
    const delays = values.delays?.split(',').map((d) => durationFlag(d.trim(), '--delays')!);
    const base = durationFlag(values.base, '--base');
    const factor =
      base === undefined ? undefined : (numberFlag(values.factor, '--factor', 1, 1000) ?? 2);
    const cap =
      base === undefined
        ? undefined
        : (durationFlag(values.cap, '--cap') ?? Math.max(base, 3_600_000));
    if (base !== undefined && cap !== undefined && cap < base) {
      throw new CliError('--cap must be at least --base', 2);
    }
    const jitter = numberFlag(values.jitter, '--jitter', 0, 1);
    const maxAttempts = intFlag(values['max-attempts'], '--max-attempts', { max: 10_000 });
    const clearAge = values['max-age'] === 'none';
    const maxAge = clearAge ? undefined : durationFlag(values['max-age'], '--max-age');
    if (maxAge === 0) throw new CliError('--max-age must be more than 0 (or "none")', 2);
    const schedule = delays !== undefined || base !== undefined;

    const policy = await withDispatch(values, async (d) => {
      const q = runtimeOf(d).queries;
      const exists = (
        await d.pool.query<{ exists: boolean }>({ ...q.policyExists, values: [name] })
      ).rows[0]?.exists;
      if (!exists && !schedule) {
        throw new CliError(
          `policy ${name} does not exist: a new policy needs --delays or --base`,
          2,
        );
      }
      if (!schedule) {
        await d.pool.query({
          ...q.updatePolicy,
          values: [
            name,
            jitter ?? null,
            maxAttempts ?? null,
            maxAge === undefined ? null : maxAge / 1000,
            values['max-age'] !== undefined,
            values.description ?? null,
          ],
        });
        return readPolicy(d, name);
      }
      await d.pool.query({
        ...q.setPolicy,
        values: [
          name,
          delays ? delays.map((ms) => ms / 1000) : null,
          base === undefined ? null : base / 1000,
          factor ?? null,
          cap === undefined ? null : cap / 1000,
          jitter ?? null,
          maxAttempts ?? null,
          maxAge === undefined ? null : maxAge / 1000,
          values.description ?? null,
          values['max-age'] !== undefined,
        ],
      });
      return readPolicy(d, name);
    });
    if (values.json) printJson({ action: 'policies.set', policy });
    else console.log(`policy ${name} ${schedule ? 'set' : 'updated'}`);
    return 0;
  },
};

async function readPolicy(d: Dispatch, name: string): Promise<PolicyRow | undefined> {
  return (await listPolicies(runtimeOf(d))).find((p) => p.name === name);
}

async function list(values: Parameters<typeof withDispatch>[0] & { json?: boolean | undefined }) {
  const rows = await withDispatch(values, async (d) => {
    return listPolicies(runtimeOf(d));
  });
  if (values.json) {
    printJson(rows);
    return 0;
  }
  printTable(
    ['NAME', 'SCHEDULE', 'JITTER', 'MAX ATTEMPTS', 'MAX AGE', 'DESCRIPTION'],
    rows.map((p) => [
      p.name,
      p.base_ms !== null
        ? `exponential ${formatCompact(p.base_ms)} x${p.factor} cap ${formatCompact(p.cap_ms ?? 0)}`
        : p.delays_ms.map(formatCompact).join(','),
      String(p.jitter),
      String(p.max_attempts),
      p.max_age_ms === null ? '-' : formatCompact(p.max_age_ms),
      p.description ?? '',
    ]),
    80,
  );
  return 0;
}
