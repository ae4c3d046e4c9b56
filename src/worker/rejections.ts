/**
 * A promise a handler let reject unobserved would, by Node's default, end
 * the process and every attempt running in it (they would then wait for
 * the rescue threshold). A worker that owns its process logs it instead,
 * with the call it most likely came from, and keeps running.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../core/outcome.js';
import type { RunJob } from '../queue/job.js';

/** An attempt in this process, for naming the likely source of a rejection. */
export interface RunningAttempt {
  functionName: string;
  callId: string;
  attempt: number;
}

/** The attempts running in a worker, cheaply: a map insert and delete per attempt. */
export class RunningAttempts {
  readonly #running = new Map<string, RunningAttempt>();
  #lastFinished: RunningAttempt | undefined;

  start(jobId: string, a: RunningAttempt): void {
    this.#running.set(jobId, a);
  }

  finish(jobId: string): void {
    const a = this.#running.get(jobId);
    if (a) this.#lastFinished = a;
    this.#running.delete(jobId);
  }

  /** Log fields and a phrase naming the call a rejection most likely came from. */
  likelySource(): { fields: Record<string, unknown>; phrase: string } {
    const running = [...this.#running.values()];
    const only = running.length === 1 ? running[0] : undefined;
    if (only) {
      return {
        fields: { function: only.functionName, callId: only.callId, attempt: only.attempt },
        phrase: `most likely from ${only.functionName} #${only.callId}, the only attempt running`,
      };
    }
    if (running.length > 1) {
      const ids = running.slice(0, 20).map((a) => a.callId);
      return {
        fields: { runningCalls: ids },
        phrase: `from one of the ${running.length} attempts running (calls ${ids.join(', ')}${running.length > 20 ? ', …' : ''})`,
      };
    }
    const last = this.#lastFinished;
    return last
      ? {
          fields: { function: last.functionName, callId: last.callId, lastFinished: true },
          phrase: `with no attempt running; most likely from ${last.functionName} #${last.callId}, the last to finish`,
        }
      : { fields: {}, phrase: 'with no attempt run yet' };
  }
}

/**
 * Logs unhandled rejections (once `watch()` is called) instead of letting them
 * end the process, naming the attempts `wrap` tracks; `remove()` gives the
 * process back.
 */
export class RejectionWatch {
  readonly #attempts = new RunningAttempts();
  readonly #onRejection: (reason: unknown) => void;

  constructor(logger: Logger) {
    this.#onRejection = (reason: unknown) => {
      let message: string;
      try {
        message = errorMessage(reason);
      } catch {
        message = Object.prototype.toString.call(reason);
      }
      const { fields, phrase } = this.#attempts.likelySource();
      logger.error(
        { ...fields, err: reason instanceof Error ? reason : message },
        `unhandled promise rejection ${phrase}: ${message}; the worker keeps running`,
      );
    };
  }

  /** From now on, until `remove()`. */
  watch(): void {
    process.on('unhandledRejection', this.#onRejection);
  }

  /** `run`, keeping track of the attempt while its handler runs. */
  wrap(functionName: string, run: RunJob): RunJob {
    const attempts = this.#attempts;
    return async (job, shutdown) => {
      const p = job.payload as { id?: unknown; attempt?: unknown } | null;
      attempts.start(job.id, { functionName, callId: String(p?.id), attempt: Number(p?.attempt) });
      try {
        return await run(job, shutdown);
      } finally {
        attempts.finish(job.id);
      }
    };
  }

  remove(): void {
    process.off('unhandledRejection', this.#onRejection);
  }
}
