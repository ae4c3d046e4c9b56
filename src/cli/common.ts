import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { createDispatch, type Dispatch } from '../client.js';
import { DispatchError, fromPgError, isConnectionError } from '../core/errors.js';
import { defaultLogger } from '../core/log.js';

/** An error for the user: printed as one line, no stack trace. */
export class CliError extends Error {
  readonly exitCode: number;
  /** For `--json` errors: `USAGE` (exit code 2) or `FAILED` unless given, e.g. `NOT_FOUND`. */
  readonly code: string | undefined;
  constructor(message: string, exitCode = 1, code?: string) {
    super(message);
    this.exitCode = exitCode;
    this.code = code;
  }
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(args: string[]): Promise<number | undefined>;
}

export const CONNECTION_OPTIONS = {
  'database-url': { type: 'string' },
  'direct-url': { type: 'string' },
  schema: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export const CONNECTION_USAGE = `  --database-url URL   Postgres connection string (default: $DATABASE_URL)
  --direct-url URL     a direct one when the first goes through PgBouncer in
                       transaction mode (default: $DATABASE_DIRECT_URL)
  --schema NAME        pgdispatch schema (default: pgdispatch)`;

/** Parses arguments with node's parseArgs, turning its errors into usage errors. */
export function withUsage<T>(usage: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${usage}`, 2);
  }
}

type CommandArgsConfig<O> = {
  args: string[];
  allowPositionals: true;
  options: typeof CONNECTION_OPTIONS & O;
};

/**
 * Parses a command's arguments: its own options plus the connection flags,
 * positionals allowed (each command checks their count); a parse error is a
 * usage error.
 */
export function parseCommandArgs<const O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  usage: string,
  options: O,
): ReturnType<typeof parseArgs<CommandArgsConfig<O>>> {
  return withUsage(usage, () =>
    parseArgs<CommandArgsConfig<O>>({
      args,
      allowPositionals: true,
      options: { ...CONNECTION_OPTIONS, ...options },
    }),
  );
}

export function connect(
  values: {
    'database-url'?: string | undefined;
    'direct-url'?: string | undefined;
    schema?: string | undefined;
  },
  logger?: Logger,
): Dispatch {
  const connectionString = values['database-url'] ?? process.env['DATABASE_URL'];
  if (!connectionString) {
    throw new CliError('no database: set DATABASE_URL or pass --database-url', 2);
  }
  const direct = values['direct-url'];
  return createDispatch({
    connectionString,
    ...(direct ? { directConnectionString: direct } : {}),
    schema: values.schema ?? 'pgdispatch',
    logger: logger ?? defaultLogger(),
    maxPoolSize: 5,
  });
}

/** Prints an error the way a user wants to read it; returns the exit code. */
export function printError(thrown: unknown): number {
  const err = fromPgError(thrown);
  if (err instanceof CliError) {
    console.error(`pgdispatch: ${err.message}`);
    return err.exitCode;
  }
  if (err instanceof DispatchError) {
    // The SQL functions' messages already start with "pgdispatch: ".
    console.error(`pgdispatch: ${err.message.replace(/^pgdispatch: /, '')} [${err.code}]`);
    return 1;
  }
  if (isConnectionError(err)) {
    console.error(`pgdispatch: cannot reach the database: ${(err as Error).message}`);
    return 1;
  }
  if (err instanceof Error) {
    console.error(`pgdispatch: ${err.message}`);
    if (process.env['DEBUG']) console.error(err.stack);
    return 1;
  }
  console.error(`pgdispatch: ${String(err)}`);
  return 1;
}
