/**
 * `--json` output, one convention for every command (docs/cli.md): stdout
 * holds one JSON value (the worker: one JSON line per event); a failure
 * writes `{"error": {code, message}}` to stderr instead.
 */
import { DispatchError, fromPgError, isConnectionError } from '../core/errors.js';
import { CliError } from './common.js';

export const JSON_USAGE = '  --json               machine-readable output (see docs/cli.md)';

/** Prints one JSON value on stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Prints one JSON line on stdout (the worker's events). */
export function printJsonLine(value: Record<string, unknown>): void {
  console.log(JSON.stringify(value));
}

/** Whether the command line asks for JSON (also before parsing, for errors). */
export function wantsJson(argv: readonly string[]): boolean {
  return argv.includes('--json');
}

/** The error as `--json` prints it; returns the exit code. */
export function printJsonError(thrown: unknown): number {
  // The SQL functions' own errors (SQLSTATE PD…) get their DispatchError code.
  const err = fromPgError(thrown);
  let code = 'FAILED';
  let exitCode = 1;
  // Usage errors end with the command's usage text: not wanted in JSON.
  let message = (err instanceof Error ? err.message : String(err))
    .split('\n\n')[0]!
    .replace(/^pgdispatch: /, '');
  if (err instanceof CliError) {
    exitCode = err.exitCode;
    code = err.code ?? (exitCode === 2 ? 'USAGE' : 'FAILED');
  } else if (err instanceof DispatchError) {
    code = err.code;
  } else if (isConnectionError(err)) {
    code = 'DATABASE_UNAVAILABLE';
    message = `cannot reach the database: ${message}`;
  }
  console.error(JSON.stringify({ error: { code, message } }));
  return exitCode;
}
