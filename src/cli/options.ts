/**
 * Flag parsing shared by the commands: durations, ids, statuses, counts.
 * Every problem is a usage error (exit code 2) naming the flag.
 */
import { parseDuration } from '../core/duration.js';
import { CALL_STATUSES, type CallStatus } from '../core/outcome.js';
import type { Dispatch } from '../client.js';
import { CliError, connect } from './common.js';

export function durationFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value);
  } catch {
    throw new CliError(`${flag}: invalid duration "${value}" (use e.g. 30s, 5m, 1h, 7d)`, 2);
  }
}

export function intFlag(
  value: string | undefined,
  flag: string,
  { min = 1, max = Number.MAX_SAFE_INTEGER } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new CliError(`${flag} must be an integer between ${min} and ${max}, got "${value}"`, 2);
  }
  return n;
}

export function numberFlag(value: string | undefined, flag: string, min: number, max: number) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new CliError(`${flag} must be a number between ${min} and ${max}, got "${value}"`, 2);
  }
  return n;
}

/** A call id: digits only, so a typo never reaches the database as a cast error. */
export function callIdArg(value: string | undefined, usage: string): string {
  if (value === undefined) throw new CliError(`a call id is required\n\n${usage}`, 2);
  if (!/^\d{1,19}$/.test(value))
    throw new CliError(`invalid call id "${value}": expected a number`, 2);
  return value;
}

/** `--status failed,cancelled`: checked against the statuses the command accepts. */
export function statusesFlag(
  value: string | undefined,
  allowed: readonly CallStatus[] = CALL_STATUSES,
): CallStatus[] | undefined {
  if (value === undefined) return undefined;
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const s of list) {
    if (!(allowed as readonly string[]).includes(s)) {
      throw new CliError(`--status: "${s}" is not one of ${allowed.join(', ')}`, 2);
    }
  }
  if (list.length === 0) throw new CliError('--status needs a value', 2);
  return list as CallStatus[];
}

export function noExtraArgs(positionals: string[], max: number, usage: string): void {
  if (positionals.length > max) {
    throw new CliError(`unexpected argument "${positionals[max]}"\n\n${usage}`, 2);
  }
}

/** Connects, runs `fn`, and always closes the pool. */
export async function withDispatch<T>(
  values: { 'database-url'?: string | undefined; schema?: string | undefined },
  fn: (dispatch: Dispatch) => Promise<T>,
): Promise<T> {
  const dispatch = connect(values);
  try {
    return await fn(dispatch);
  } finally {
    await dispatch.close();
  }
}
