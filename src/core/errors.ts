/**
 * Errors pgdispatch raises for bad input or bad state. Each carries a stable
 * `code`; the SQL functions raise the same conditions with SQLSTATEs of class
 * `PD`, which `fromPgError` maps back to these codes.
 */
export const ERROR_CODES = {
  UNKNOWN_FUNCTION: 'PD001',
  UNKNOWN_RETRY_POLICY: 'PD002',
  INVALID_OPTION: 'PD003',
  CALL_NOT_FOUND: 'PD004',
  INVALID_STATE: 'PD005',
  UNKNOWN_ENDPOINT: 'PD006',
  INVALID_INPUT: 'PD007',
  INVALID_CONFIG: 'PD008',
  DATABASE_UNAVAILABLE: 'PD009',
  MIGRATION_FAILED: 'PD010',
  INVALID_SCHEDULE: 'PD011',
  UNKNOWN_SCHEDULE: 'PD012',
  /** A workflow's replay met a different step than the one recorded. */
  NON_DETERMINISTIC: 'PD020',
  /** A workflow step (or child call) failed for good; thrown into the body. */
  STEP_FAILED: 'PD021',
  /** A workflow passed a limit: steps per run, output size. */
  WORKFLOW_LIMIT: 'PD022',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const BY_SQLSTATE = new Map<string, ErrorCode>(
  Object.entries(ERROR_CODES).map(([code, sqlstate]) => [sqlstate, code as ErrorCode]),
);

export class DispatchError extends Error {
  /** Stable, machine-readable code, e.g. `UNKNOWN_FUNCTION`. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DispatchError';
    this.code = code;
  }
}

const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/** Whether a database error means "try again later" rather than "this is wrong". */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof DispatchError) return err.code === 'DATABASE_UNAVAILABLE';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE.has(code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|Connection ended/i.test(
    err.message,
  );
}

/** Turns a pg error raised by one of our SQL functions into a DispatchError. */
export function fromPgError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const sqlstate = (err as { code?: unknown }).code;
  if (typeof sqlstate === 'string') {
    const code = BY_SQLSTATE.get(sqlstate);
    if (code) return new DispatchError(code, err.message, { cause: err });
    if (
      sqlstate === '23514' ||
      sqlstate === '22P02' ||
      sqlstate === '22007' ||
      sqlstate === '22008'
    ) {
      return new DispatchError('INVALID_OPTION', err.message, { cause: err });
    }
  }
  if (isConnectionError(err)) {
    return new DispatchError('DATABASE_UNAVAILABLE', `database unavailable: ${err.message}`, {
      cause: err,
    });
  }
  return err;
}
