/**
 * The worker's side of workflows: one attempt per claimed job runs the body
 * once (run.ts) and records how it ended: a final outcome through the
 * attempt recorder, a suspension through the step recorder. A cancelled
 * call's running attempt hears of it on a notification channel.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { type AttemptStatus, classifyError, isRetryable } from '../core/outcome.js';
import { startAttemptSpan } from '../core/tracing.js';
import type { ClaimedJob, Finished, RunJob } from '../queue/job.js';
import { storableOutcome } from '../record/outcome-fields.js';
import type { AttemptOutcome, Recorder, RecordResult } from '../record/recorder.js';
import type { RegisteredFunction, Registry } from '../registry/registry.js';
import { validateInput } from '../registry/validate.js';
import type { Queries } from '../sql/queries.js';
import { StepRecorder } from './recorder.js';
import { WorkflowRun, type WorkflowState } from './run.js';
import { readState, type ShippedState } from './state.js';
import type { WorkflowDefinition } from './types.js';

const CANCEL_CHANNEL = 'pgdispatch:cancel';

export interface EngineOptions {
  pool: pg.Pool;
  queries: Queries;
  logger: Logger;
  workerId: string;
  registry: Registry;
  /** Claim again at `at`: a timer this worker set. */
  wakeAt: (at: Date) => void;
}

/** What a workflow's attempt hands its outcome to, as a function's attempt does (run/attempt.ts). */
export interface WorkflowServices {
  recorder: Recorder;
  logger: Logger;
  /** Called when shutdown aborted a run: give the job back unrecorded. */
  release: (job: { job_id: string; call_id: string; attempt: number }) => Promise<void>;
  onAttempt?: (functionName: string, outcome: AttemptOutcome, result: RecordResult) => void;
}

export class WorkflowEngine {
  readonly recorder: StepRecorder;
  readonly #options: EngineOptions;
  readonly #runs = new Map<string, WorkflowRun>();
  #listener: pg.PoolClient | undefined;

  constructor(options: EngineOptions) {
    this.#options = options;
    this.recorder = new StepRecorder(
      options.pool,
      options.queries,
      options.logger,
      options.workerId,
    );
  }

  /** Listens for cancellations of calls this worker runs. */
  async start(): Promise<void> {
    const client = await this.#options.pool.connect();
    client.on('notification', (n) => {
      const run = n.payload ? this.#runs.get(n.payload) : undefined;
      run?.abort(new Error('call cancelled'), {
        kind: 'error',
        error: new Error('call cancelled while running'),
      });
    });
    client.on('error', (err) => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      this.#options.logger.warn({ err: err.message }, 'lost the workflow cancellation channel');
      client.release(err);
    });
    await client.query(`listen "${CANCEL_CHANNEL}"`);
    this.#listener = client;
  }

  async stop(): Promise<void> {
    await this.recorder.flush();
    const client = this.#listener;
    this.#listener = undefined;
    if (!client) return;
    client.removeAllListeners('notification');
    // Closed rather than pooled: its listeners stay with it.
    client.release(true);
  }

  /** The attempt function of one workflow, for the job loop. */
  attempt(fn: RegisteredFunction, def: WorkflowDefinition, env: WorkflowServices): RunJob {
    return async (job: ClaimedJob, shutdown: AbortSignal): Promise<Finished> => {
      const payload = job.payload as {
        id?: unknown;
        attempt?: unknown;
        input?: unknown;
        trace?: unknown;
      } | null;
      if (!payload || typeof payload.attempt !== 'number' || payload.id === undefined) {
        throw new Error(
          'job payload is not a pgdispatch call: use pgdispatch.dispatch() to dispatch',
        );
      }
      const callId = String(payload.id);
      const attempt = payload.attempt;
      const startedMs = Date.now();
      const t0 = performance.now();
      const shipped = job.workflow as ShippedState | null | undefined;
      const state = shipped ? readState(shipped) : await this.#loadState(callId);
      const span = startAttemptSpan(fn.name, callId, attempt, payload.trace ?? state.trace);
      const run = new WorkflowRun({
        def,
        functionName: fn.name,
        callId,
        attempt,
        state,
        recorder: this.recorder,
        pool: this.#options.pool,
        queries: this.#options.queries,
        logger: env.logger,
        validateChild: (name, input) => this.#validateChild(name, input),
        span,
      });
      this.#runs.set(callId, run);
      const onShutdown = () =>
        run.abort(shutdown.reason, { kind: 'abandoned', error: shutdown.reason });
      if (shutdown.aborted) onShutdown();
      else shutdown.addEventListener('abort', onShutdown, { once: true });
      let result: Awaited<ReturnType<WorkflowRun['execute']>>;
      try {
        const input = payload.input ?? null;
        result = await (span ? span.run(() => run.execute(input)) : run.execute(input));
      } finally {
        shutdown.removeEventListener('abort', onShutdown);
        if (this.#runs.get(callId) === run) this.#runs.delete(callId);
      }
      const durationMs = Math.round((performance.now() - t0) * 1000) / 1000;
      const head = `${fn.name} #${callId} run ${attempt}`;

      if (result.kind === 'abandoned') {
        span?.end('released', shutdown.aborted ? 'worker shutting down' : String(result.error));
        if (shutdown.aborted) {
          await env.release({ job_id: job.id, call_id: callId, attempt });
          env.logger.warn(`${head} released: worker shutting down`);
          return undefined;
        }
        throw result.error;
      }

      if (result.kind === 'suspended') {
        const reason = result.reason;
        span?.end('suspended', reason);
        const recorded = this.recorder
          .record({
            op: 'suspend',
            call_id: callId,
            job_id: job.id,
            attempt,
            started_ms: startedMs,
            duration_ms: durationMs,
            blocked: result.blocked,
            need_all: result.needAll,
            need_any: result.needAny,
            reason,
          })
          .then((r) => {
            if (r.status === 'waiting' && r.wake_at) this.#options.wakeAt(new Date(r.wake_at));
            env.logger.info(
              { function: fn.name, callId, attempt, callStatus: r.status, recorded: r.recorded },
              `${head}: suspended, ${reason}`,
            );
          });
        return { recorded };
      }

      let status: AttemptStatus = 'ok';
      let error: string | null = null;
      if (result.kind === 'error') {
        const c = classifyError(result.error, false);
        // Retries belong to steps; what escapes the body fails the workflow.
        status = isRetryable(c.status) ? 'permanent_error' : c.status;
        error = c.message;
      }
      // Notes on what had to change go in the attempt's error, as for a function's attempt.
      const outcome: AttemptOutcome = storableOutcome({
        job_id: job.id,
        call_id: callId,
        attempt,
        started_ms: startedMs,
        duration_ms: durationMs,
        status,
        http_status: null,
        error,
        response: null,
        output: result.kind === 'ok' ? (result.output ?? null) : null,
        retry_after_ms: null,
      });
      span?.end(outcome.status, outcome.error);
      const recorded = env.recorder.record(outcome).then((r) => {
        env.onAttempt?.(fn.name, outcome, r);
        const fields = { function: fn.name, callId, attempt, status, callStatus: r.call_status };
        if (status === 'ok') env.logger.info(fields, `${head}: workflow succeeded`);
        else env.logger.error(fields, `${head}: workflow failed: ${outcome.error}`);
      });
      return { recorded };
    };
  }

  async #loadState(callId: string): Promise<WorkflowState> {
    const { rows } = await this.#options.pool.query<{ state: ShippedState }>({
      ...this.#options.queries.workflowState,
      values: [callId],
    });
    return readState(rows[0]!.state);
  }

  /** Refuses a child's input as its function's dispatch would (a promise for an async schema). */
  #validateChild(name: string, input: unknown): unknown {
    const validate = this.#options.registry.get(name)?.options.validate;
    return validate ? validateInput(name, validate, input) : undefined;
  }
}
