/** One log line per attempt, at a level that says how the call stands. */
import type { Logger } from 'pino';
import type { AttemptOutcome, RecordResult } from '../record/recorder.js';

export function logAttempt(logger: Logger, name: string, o: AttemptOutcome, r: RecordResult): void {
  const fields = {
    function: name,
    callId: o.call_id,
    attempt: o.attempt,
    status: o.status,
    durationMs: Math.round(o.duration_ms),
    httpStatus: o.http_status ?? undefined,
    callStatus: r.call_status,
    nextAttemptAt: r.next_attempt_at ?? undefined,
    error: o.error ?? undefined,
  };
  const http = o.http_status ? `HTTP ${o.http_status}, ` : '';
  const head = `${name} #${o.call_id} attempt ${o.attempt}: ${o.status} (${http}${fields.durationMs} ms)`;
  if (!r.recorded) {
    logger.warn(fields, `${head}; already recorded by another worker, ignored`);
  } else if (o.status === 'ok') {
    logger.info(fields, `${head}; call succeeded`);
  } else if (r.call_status === 'retrying' && r.next_attempt_at) {
    logger.warn(
      fields,
      `${head}; retrying at ${new Date(r.next_attempt_at).toISOString()}: ${o.error}`,
    );
  } else if (r.call_status === 'cancelled') {
    logger.warn(fields, `${head}; call was cancelled`);
  } else {
    logger.error(fields, `${head}; call failed: ${o.error}`);
  }
}
