/**
 * The status model, after Dispatch: what an attempt's outcome is, whether it
 * is worth another attempt, and how errors and HTTP responses map onto it.
 */

/** The outcome of one attempt, as stored in `attempts.status`. */
export const ATTEMPT_STATUSES = [
  'ok',
  'timeout',
  'throttled',
  'temporary_error',
  'permanent_error',
  'invalid_argument',
  'invalid_response',
  'dns_error',
  'tcp_error',
  'tls_error',
  'http_error',
  'unauthenticated',
  'permission_denied',
  'not_found',
] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

/** The state of a call, as stored in `calls.status`. */
export const CALL_STATUSES = [
  'pending',
  'running',
  'retrying',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type CallStatus = (typeof CALL_STATUSES)[number];

const RETRYABLE: ReadonlySet<AttemptStatus> = new Set<AttemptStatus>([
  'timeout',
  'throttled',
  'temporary_error',
  'dns_error',
  'tcp_error',
  'tls_error',
  'http_error',
]);

/** Whether an outcome schedules another attempt (within the retry policy). */
export function isRetryable(status: AttemptStatus): boolean {
  return RETRYABLE.has(status);
}

/** Maps an HTTP response status code to an attempt outcome. */
export function statusFromHttp(code: number): AttemptStatus {
  if (code >= 200 && code < 300) return 'ok';
  switch (code) {
    case 400:
      return 'invalid_argument';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'permission_denied';
    case 404:
      return 'not_found';
    case 408:
      return 'timeout';
    case 429:
      return 'throttled';
    case 501:
      return 'permanent_error';
  }
  if (code >= 500 && code < 600) return 'temporary_error';
  return 'permanent_error';
}

/** An error that carries the outcome it stands for. */
export class OutcomeError extends Error {
  readonly status: AttemptStatus;
  /** Delay the server asked for (429/503 Retry-After), honoured within the policy's bounds. */
  readonly retryAfterMs: number | undefined;
  /** HTTP status of the response that caused this error, if any. */
  readonly httpStatus: number | undefined;

  constructor(
    status: AttemptStatus,
    message: string,
    options: { cause?: unknown; retryAfterMs?: number; httpStatus?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OutcomeError';
    this.status = status;
    this.retryAfterMs = options.retryAfterMs;
    this.httpStatus = options.httpStatus;
  }
}

/** Throw from a handler to ask for another attempt (outcome `temporary_error`). */
export class TemporaryError extends OutcomeError {
  constructor(message = 'temporary error', options: { cause?: unknown } = {}) {
    super('temporary_error', message, options);
    this.name = 'TemporaryError';
  }
}

/** Throw from a handler to fail the call at once (outcome `permanent_error`). */
export class PermanentError extends OutcomeError {
  constructor(message = 'permanent error', options: { cause?: unknown } = {}) {
    super('permanent_error', message, options);
    this.name = 'PermanentError';
  }
}

/** Throw from a handler when the far side asks to slow down (outcome `throttled`). */
export class ThrottledError extends OutcomeError {
  constructor(message = 'throttled', options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super('throttled', message, options);
    this.name = 'ThrottledError';
  }
}

const NETWORK_CODES: Readonly<Record<string, AttemptStatus>> = {
  ECONNREFUSED: 'tcp_error',
  ECONNRESET: 'tcp_error',
  ECONNABORTED: 'tcp_error',
  EPIPE: 'tcp_error',
  EHOSTUNREACH: 'tcp_error',
  ENETUNREACH: 'tcp_error',
  EADDRNOTAVAIL: 'tcp_error',
  UND_ERR_SOCKET: 'tcp_error',
  UND_ERR_CLOSED: 'tcp_error',
  ENOTFOUND: 'dns_error',
  EAI_AGAIN: 'dns_error',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ABORT_ERR: 'timeout',
  UND_ERR_RESPONSE_STATUS_CODE: 'http_error',
  HPE_INVALID_CONSTANT: 'invalid_response',
  HPE_INVALID_HEADER_TOKEN: 'invalid_response',
  UND_ERR_INFO: 'invalid_response',
};

const TLS_CODE =
  /^(CERT_|ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_SELF_SIGNED_CERT|HOSTNAME_MISMATCH|ERR_OSSL)/;

export interface Classification {
  status: AttemptStatus;
  message: string;
  retryAfterMs?: number;
  httpStatus?: number;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Classifies whatever a handler threw. `retryUnknown` decides the fate of
 * errors that carry no hint: permanent by default, since a TypeError retried
 * 25 times is noise.
 */
export function classifyError(err: unknown, retryUnknown = false): Classification {
  const message = errorMessage(err);
  if (err instanceof OutcomeError) {
    const c: Classification = { status: err.status, message };
    if (err.retryAfterMs !== undefined) c.retryAfterMs = err.retryAfterMs;
    if (err.httpStatus !== undefined) c.httpStatus = err.httpStatus;
    return c;
  }
  // Duck-typed temporary errors, as in Go's `Temporary() bool` convention.
  if (typeof err === 'object' && err !== null && 'temporary' in err) {
    const temporary = (err as { temporary: unknown }).temporary;
    if (typeof temporary === 'function' && temporary.call(err) === true) {
      return { status: 'temporary_error', message };
    }
  }
  // Walk the cause chain: undici wraps the socket error in a TypeError("fetch failed").
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = errorCode(e);
    if (code) {
      const mapped = NETWORK_CODES[code];
      if (mapped) return { status: mapped, message };
      if (TLS_CODE.test(code)) return { status: 'tls_error', message };
    }
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) {
      return { status: 'timeout', message };
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return { status: retryUnknown ? 'temporary_error' : 'permanent_error', message };
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = errorCode(err);
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${code && !err.message.includes(code) ? `${code}: ` : ''}${err.message}${cause}`;
  }
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/**
 * Not an outcome: throw it when the attempt cannot start yet (a saturated
 * destination, a missing prerequisite). The job goes back to the queue for
 * `delayMs` and no attempt is counted or recorded.
 */
export class SnoozeError extends Error {
  readonly delayMs: number;
  constructor(delayMs: number, message = `snoozed for ${delayMs} ms`) {
    super(message);
    this.name = 'SnoozeError';
    this.delayMs = delayMs;
  }
}
