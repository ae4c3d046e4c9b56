/**
 * An attempt's outcome as Postgres will take it. Everything in it that came
 * from a handler or a receiver (error, output, response, HTTP status, retry
 * delay, even the status of a hand-made OutcomeError) is made storable, and
 * what had to change is said in the attempt's `error`.
 */
import { boundedText, safeString, storableJson } from '../core/storable.js';
import { ATTEMPT_STATUSES, type AttemptStatus } from '../core/outcome.js';

/** The fields of an AttemptOutcome (recorder.ts) that user code or a receiver filled. */
interface OutcomeFields {
  status: AttemptStatus;
  http_status: number | null;
  error: string | null;
  response: unknown;
  output: unknown;
  retry_after_ms: number | null;
}

/** Longest error kept, in code points. */
export const MAX_ERROR_CHARS = 2_000;
// Longer than any retry policy sensibly waits; make_interval overflows past about 1e15 s.
const MAX_RETRY_AFTER_MS = 10 * 365 * 86_400_000;
const STATUSES: ReadonlySet<string> = new Set(ATTEMPT_STATUSES);

/** The outcome with every user-supplied field made storable. */
export function storableOutcome<O extends OutcomeFields>(o: O): O {
  const notes: string[] = [];
  let status = o.status;
  if (!STATUSES.has(status)) {
    notes.push(
      `unknown outcome ${JSON.stringify(boundedText(safeString(status), 40))} recorded as permanent_error`,
    );
    status = 'permanent_error';
  }
  let httpStatus = o.http_status;
  if (httpStatus !== null && !isHttpStatus(httpStatus)) {
    notes.push(
      `reported HTTP status ${boundedText(safeString(httpStatus), 40)} is not one: dropped`,
    );
    httpStatus = null;
  }
  let response: unknown = null;
  if (o.response !== null) {
    const r = storableJson(o.response);
    response = r.value;
    for (const n of r.notes) notes.push(`response: ${n}`);
  }
  let output: unknown = null;
  if (o.output !== null) {
    const r = storableJson(o.output);
    output = r.value;
    for (const n of r.notes) notes.push(`output: ${n}`);
  }
  let retryAfterMs = o.retry_after_ms;
  if (retryAfterMs !== null) {
    retryAfterMs = Number.isFinite(retryAfterMs)
      ? Math.min(Math.max(retryAfterMs, 0), MAX_RETRY_AFTER_MS)
      : null;
  }
  const error = withNotes(o.error, notes);
  if (
    status === o.status &&
    httpStatus === o.http_status &&
    response === o.response &&
    output === o.output &&
    error === o.error &&
    retryAfterMs === o.retry_after_ms
  ) {
    return o;
  }
  return {
    ...o,
    status,
    http_status: httpStatus,
    error,
    response,
    output,
    retry_after_ms: retryAfterMs,
  };
}

/**
 * What is recorded when Postgres refused an outcome even so: the attempt and
 * its status, without the output and response it carried, and why.
 */
export function unrecordableOutcome<O extends OutcomeFields>(o: O, refusal: unknown): O {
  const status: AttemptStatus = STATUSES.has(o.status) ? o.status : 'permanent_error';
  const why = `the outcome could not be recorded as it was (${safeString(refusal)}): output and response dropped`;
  return {
    ...o,
    status,
    http_status: o.http_status !== null && isHttpStatus(o.http_status) ? o.http_status : null,
    error: boundedText(o.error === null ? why : `${why}; ${o.error}`, MAX_ERROR_CHARS),
    response: null,
    output: null,
    retry_after_ms:
      o.retry_after_ms !== null && Number.isFinite(o.retry_after_ms)
        ? Math.min(Math.max(o.retry_after_ms, 0), MAX_RETRY_AFTER_MS)
        : null,
  };
}

/** A SnoozeError's delay as snooze_jobs can take it: NaN would be a null run_at. */
export function snoozeDelayMs(delayMs: number): number {
  return Number.isFinite(delayMs) ? Math.min(Math.max(delayMs, 0), MAX_RETRY_AFTER_MS) : 0;
}

function isHttpStatus(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 100 && n <= 999;
}

function withNotes(error: string | null, notes: string[]): string | null {
  if (notes.length === 0) return error === null ? null : boundedText(error, MAX_ERROR_CHARS);
  // Notes after the error, which is cut first: they are short and say what changed.
  const said = notes.join('; ');
  return error === null ? said : `${boundedText(error, MAX_ERROR_CHARS)} (${said})`;
}
