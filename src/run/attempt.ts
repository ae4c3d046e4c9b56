/**
 * Runs one attempt of a registered function for a claimed job: classifies
 * its outcome, hands it to the recorder and logs one line.
 */
import type { Logger } from 'pino';
import { type AttemptStatus, classifyError, SnoozeError } from '../core/outcome.js';
import { safeString } from '../core/storable.js';
import { startAttemptSpan } from '../core/tracing.js';
import { logAttempt } from '../observe/attempt-log.js';
import type { ClaimedJob, Finished, RunJob } from '../queue/job.js';
import { snoozeDelayMs, storableOutcome } from '../record/outcome-fields.js';
import type { AttemptOutcome, Recorder, RecordResult } from '../record/recorder.js';
import type { RegisteredFunction } from '../registry/registry.js';
import { AttemptContext } from './context.js';

/** What dispatch puts in a graphile-worker job's payload. */
export interface JobPayload {
  id: string | number;
  attempt: number;
  input: unknown;
  /** The dispatch's trace context, when it was traced (`calls.trace_context`). */
  trace?: unknown;
  /** The flow-control key whose slot the call holds (keyed calls only). */
  key?: string;
}

/** What an attempt hands its outcome to, and how it gives a job back unrecorded. */
export interface AttemptServices {
  recorder: Recorder;
  logger: Logger;
  /** Called when shutdown aborted an attempt: give the job back unrecorded. */
  release: (job: { job_id: string; call_id: string; attempt: number }) => Promise<void>;
  /** Called when the handler snoozed: put the job back for later, unrecorded. */
  snooze: (job: { job_id: string; delay_ms: number }) => Promise<void>;
  /** Called once an attempt's outcome is recorded (metrics count attempts here). */
  onAttempt?: (functionName: string, outcome: AttemptOutcome, result: RecordResult) => void;
  /** Frees the flow-control slot of a keyed call once its attempt is recorded. */
  flowRelease?: (callId: string) => Promise<void>;
}

/**
 * The attempt runner of a registered function, for the worker's job feed:
 * runs the handler against its deadline, classifies the outcome, hands it to
 * the recorder. Resolves with the promise of the recording, or with nothing
 * when the job was given back (released on shutdown, snoozed).
 */
export function attemptRunner(fn: RegisteredFunction, services: AttemptServices): RunJob {
  return async (job: ClaimedJob, shutdown: AbortSignal): Promise<Finished> => {
    const payload = parsePayload(job.payload);
    const ctx = new AttemptContext(
      fn.name,
      String(payload.id),
      payload.attempt,
      services.logger,
      shutdown,
    );
    // Undefined unless the app traces with OpenTelemetry (a registered provider).
    const span = startAttemptSpan(fn.name, ctx.callId, ctx.attempt, payload.trace);
    const startedMs = Date.now();
    const t0 = performance.now();
    let status: AttemptStatus = 'ok';
    let output: unknown = null;
    let error: string | null = null;
    let retryAfterMs: number | null = null;
    let timer: NodeJS.Timeout | undefined;
    try {
      // One promise for the handler and its deadline (no Promise.race, no
      // extra microtask): a handler that ignores its signal still cannot hold
      // the attempt past its deadline.
      output = await new Promise<unknown>((resolve, reject) => {
        timer = setTimeout(() => {
          const err = new Error(`attempt timed out after ${fn.options.timeoutMs} ms`);
          err.name = 'TimeoutError';
          ctx.timedOut(err);
          reject(err);
        }, fn.options.timeoutMs);
        try {
          const result = span
            ? span.run(() => fn.handler(payload.input, ctx))
            : fn.handler(payload.input, ctx);
          Promise.resolve(result).then(resolve, reject);
        } catch (err) {
          reject(err);
        }
      });
    } catch (err) {
      if (shutdown.aborted && !ctx.timeoutError) {
        // The worker is shutting down and its grace period is over: this
        // attempt did not finish, so give the job back to run again now.
        span?.end('released', 'worker shutting down');
        await services.release({ job_id: job.id, call_id: ctx.callId, attempt: ctx.attempt });
        ctx.logger.warn(
          `${fn.name} #${ctx.callId} attempt ${ctx.attempt} released: worker shutting down`,
        );
        return;
      }
      if (err instanceof SnoozeError) {
        span?.end('snoozed', null);
        await services.snooze({ job_id: job.id, delay_ms: snoozeDelayMs(err.delayMs) });
        ctx.logger.debug(
          `${fn.name} #${ctx.callId} attempt ${ctx.attempt} snoozed: ${err.message}`,
        );
        return;
      }
      try {
        const c = classifyError(err, fn.options.retryUnknownErrors);
        status = c.status;
        error = c.message;
        if (c.retryAfterMs !== undefined) retryAfterMs = c.retryAfterMs;
        if (c.httpStatus !== undefined) ctx.reported.httpStatus ??= c.httpStatus;
      } catch (unreadable) {
        // A thrown value whose message, code or temporary() throws in turn.
        status = 'permanent_error';
        error = `the handler threw a value that could not be read: ${safeString(unreadable)}`;
      }
    } finally {
      clearTimeout(timer);
      ctx.done();
    }

    const outcome: AttemptOutcome = storableOutcome({
      job_id: job.id,
      call_id: ctx.callId,
      attempt: ctx.attempt,
      started_ms: startedMs,
      duration_ms: Math.round((performance.now() - t0) * 1000) / 1000,
      status,
      http_status: ctx.reported.httpStatus ?? null,
      error,
      response: ctx.reported.response ?? null,
      output: status === 'ok' ? output : null,
      retry_after_ms: retryAfterMs,
    });
    if (span) {
      if (ctx.request) span.http({ ...ctx.request, statusCode: ctx.reported.httpStatus });
      span.end(status, error);
    }
    const recorded = services.recorder.record(outcome).then((result) => {
      services.onAttempt?.(fn.name, outcome, result);
      logAttempt(services.logger, fn.name, outcome, result);
      if (payload.key !== undefined && services.flowRelease) {
        // A failure here leaves the slot to the workers' flow sweep.
        return services.flowRelease(ctx.callId).catch((err: unknown) => {
          ctx.logger.warn({ err: (err as Error).message }, 'could not free the concurrency slot');
        });
      }
    });
    return { recorded };
  };
}

function parsePayload(raw: unknown): JobPayload {
  const p = raw as Partial<JobPayload> | null;
  if (
    !p ||
    (typeof p.id !== 'number' && typeof p.id !== 'string') ||
    typeof p.attempt !== 'number'
  ) {
    // Not a pgdispatch job (someone used graphile_worker.add_job directly).
    throw new Error('job payload is not a pgdispatch call: use pgdispatch.dispatch() to dispatch');
  }
  const payload: JobPayload = { id: p.id, attempt: p.attempt, input: p.input ?? null, trace: p.trace };
  if (typeof p.key === 'string') payload.key = p.key;
  return payload;
}
