/**
 * Runs one attempt of a registered function for a claimed job: classifies
 * its outcome, hands it to the recorder and logs one line.
 */
import type { Logger } from 'pino';
import { ABORT_EMITTER, AbortEmitter, callEach } from '../core/abort.js';
import type { CallContext } from '../registry/handler.js';
import type { RegisteredFunction } from '../registry/registry.js';
import { type AttemptStatus, classifyError, SnoozeError } from '../core/outcome.js';
import type { ClaimedJob } from '../queue/job-loop.js';
import type { AttemptOutcome, Recorder, RecordResult } from '../record/recorder.js';

/** What dispatch puts in a graphile-worker job's payload. */
export interface JobPayload {
  id: string | number;
  attempt: number;
  input: unknown;
}

export interface TaskEnv {
  recorder: Recorder;
  logger: Logger;
  /** Called when shutdown aborted an attempt: give the job back unrecorded. */
  release: (job: { job_id: string; call_id: string; attempt: number }) => Promise<void>;
  /** Called when the handler snoozed: put the job back for later, unrecorded. */
  snooze: (job: { job_id: string; delay_ms: number }) => Promise<void>;
  /** Called once an attempt's outcome is recorded (metrics count attempts here). */
  onAttempt?: (functionName: string, outcome: AttemptOutcome, result: RecordResult) => void;
}

const MAX_ERROR_CHARS = 2_000;

/**
 * Runs one attempt; `shutdown` aborts when a stopping worker's grace period
 * is over. Resolves when the handler is done: with the promise of its
 * outcome's recording, or with nothing when the job was given back (released
 * on shutdown, snoozed). A rejection of either means the outcome could not be
 * recorded or the job is not a call: the job loop unlocks the job to run
 * again later.
 */
export type Attempt = (job: ClaimedJob, shutdown: AbortSignal) => Promise<Handled>;

/** A finished attempt: `recorded` settles once its outcome is committed. */
export type Handled = { recorded: Promise<void> } | undefined;

/** The attempt function of a registered function, for the worker's job loop. */
export function makeAttempt(fn: RegisteredFunction, env: TaskEnv): Attempt {
  return async (job: ClaimedJob, shutdown: AbortSignal): Promise<Handled> => {
    const payload = parsePayload(job.payload);
    const ctx = new AttemptContext(
      fn.name,
      String(payload.id),
      payload.attempt,
      env.logger,
      shutdown,
    );
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
          Promise.resolve(fn.handler(payload.input, ctx)).then(resolve, reject);
        } catch (err) {
          reject(err);
        }
      });
    } catch (err) {
      if (shutdown.aborted && !ctx.timeoutError) {
        // The worker is shutting down and its grace period is over: this
        // attempt did not finish, so give the job back to run again now.
        await env.release({ job_id: job.id, call_id: ctx.callId, attempt: ctx.attempt });
        ctx.logger.warn(
          `${fn.name} #${ctx.callId} attempt ${ctx.attempt} released: worker shutting down`,
        );
        return;
      }
      if (err instanceof SnoozeError) {
        await env.snooze({ job_id: job.id, delay_ms: err.delayMs });
        ctx.logger.debug(
          `${fn.name} #${ctx.callId} attempt ${ctx.attempt} snoozed: ${err.message}`,
        );
        return;
      }
      const c = classifyError(err, fn.options.retryUnknownErrors);
      status = c.status;
      error = truncate(c.message);
      if (c.retryAfterMs !== undefined) retryAfterMs = c.retryAfterMs;
      if (c.httpStatus !== undefined) ctx.reported.httpStatus ??= c.httpStatus;
    } finally {
      clearTimeout(timer);
      ctx.done();
    }

    const outcome: AttemptOutcome = {
      job_id: job.id,
      call_id: ctx.callId,
      attempt: ctx.attempt,
      started_ms: startedMs,
      duration_ms: Math.round((performance.now() - t0) * 1000) / 1000,
      status,
      http_status: ctx.reported.httpStatus ?? null,
      error,
      response: ctx.reported.response ?? null,
      output: status === 'ok' ? storable(output) : null,
      retry_after_ms: retryAfterMs,
    };
    const recorded = env.recorder.record(outcome).then((result) => {
      env.onAttempt?.(fn.name, outcome, result);
      logAttempt(env.logger, fn.name, outcome, result);
    });
    return { recorded };
  };
}

/**
 * What a handler gets. The child logger and the abort signal are built on
 * first use: most handlers look at neither, and a child logger, an
 * AbortController and a listener on the worker's shutdown signal per attempt
 * are measurable at thousands of attempts per second. The built-in webhook
 * function takes the cheaper AbortEmitter instead of the signal.
 */
class AttemptContext implements CallContext {
  reported: { httpStatus?: number; response?: unknown } = {};
  /** Set when the deadline passed: the signal aborts with it. */
  timeoutError: Error | undefined;
  readonly #rootLogger: Logger;
  readonly #shutdown: AbortSignal;
  #logger: Logger | undefined;
  #controller: AbortController | undefined;
  #emitter: AbortEmitter | undefined;
  #onShutdown: (() => void) | undefined;
  #over = false;

  constructor(
    readonly functionName: string,
    readonly callId: string,
    readonly attempt: number,
    rootLogger: Logger,
    shutdown: AbortSignal,
  ) {
    this.#rootLogger = rootLogger;
    this.#shutdown = shutdown;
  }

  get logger(): Logger {
    this.#logger ??= this.#rootLogger.child({
      function: this.functionName,
      callId: this.callId,
      attempt: this.attempt,
    });
    return this.#logger;
  }

  /** Aborts on the attempt's timeout or when a stopping worker's grace period is over. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      const controller = new AbortController();
      this.#controller = controller;
      this.#arm((reason) => controller.abort(reason));
    }
    return this.#controller.signal;
  }

  /** The same aborts as `signal`, as an AbortEmitter. */
  [ABORT_EMITTER](): AbortEmitter {
    if (!this.#emitter) {
      const emitter = new AbortEmitter();
      this.#emitter = emitter;
      this.#arm((reason) => emitter.abort(reason));
    }
    return this.#emitter;
  }

  report(details: { httpStatus?: number; response?: unknown }): void {
    this.reported = { ...this.reported, ...details };
  }

  timedOut(err: Error): void {
    this.timeoutError = err;
    this.#abort(err);
  }

  /** The attempt is over: stop listening to the worker's shutdown. */
  done(): void {
    this.#over = true;
    if (this.#onShutdown) shutdownListeners(this.#shutdown).delete(this.#onShutdown);
  }

  /** Aborts a new signal at once if the attempt is over its time, else on shutdown. */
  #arm(abort: (reason: unknown) => void): void {
    if (this.timeoutError) abort(this.timeoutError);
    else if (this.#shutdown.aborted) abort(this.#shutdown.reason);
    else if (!this.#over && !this.#onShutdown) {
      // Not after the attempt is over: nothing would remove the listener.
      this.#onShutdown = () => this.#abort(this.#shutdown.reason);
      shutdownListeners(this.#shutdown).add(this.#onShutdown);
    }
  }

  #abort(reason: unknown): void {
    this.#controller?.abort(reason);
    this.#emitter?.abort(reason);
  }
}

// The attempts that watch each worker's shutdown signal, behind one listener
// on it: adding and removing an EventTarget listener per attempt costs more,
// and its removal grows with the attempts in flight.
const watchers = new WeakMap<AbortSignal, Set<() => void>>();

function shutdownListeners(shutdown: AbortSignal): Set<() => void> {
  let set = watchers.get(shutdown);
  if (!set) {
    const created = new Set<() => void>();
    shutdown.addEventListener(
      'abort',
      () => {
        callEach([...created]);
        created.clear();
      },
      { once: true },
    );
    watchers.set(shutdown, created);
    set = created;
  }
  return set;
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
  return { id: p.id, attempt: p.attempt, input: p.input ?? null };
}

function truncate(message: string): string {
  const clean = message.replaceAll('\u0000', '');
  return clean.length > MAX_ERROR_CHARS ? `${clean.slice(0, MAX_ERROR_CHARS)}…` : clean;
}

/** Output goes into jsonb: it must serialise, and without NUL characters. */
function storable(output: unknown): unknown {
  if (output === undefined) return null;
  try {
    const json = JSON.stringify(output);
    if (json === undefined) return null;
    return json.includes('\\u0000') ? JSON.parse(json.replaceAll('\\u0000', '')) : output;
  } catch {
    return { unserialisable: String(output) };
  }
}

function logAttempt(logger: Logger, name: string, o: AttemptOutcome, r: RecordResult): void {
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
