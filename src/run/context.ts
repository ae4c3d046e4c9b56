import type { Logger } from 'pino';
import { ABORT_EMITTER, AbortEmitter, callEach } from '../core/abort.js';
import { HTTP_REQUEST } from '../core/tracing.js';
import type { CallContext } from '../registry/handler.js';

/**
 * What a handler gets. The child logger and the abort signal are built on
 * first use: most handlers look at neither, and a child logger, an
 * AbortController and a listener on the worker's shutdown signal per attempt
 * are measurable at thousands of attempts per second. The built-in webhook
 * function takes the cheaper AbortEmitter instead of the signal.
 */
export class AttemptContext implements CallContext {
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

  /** The request a webhook attempt sent, for its span's HTTP attributes. */
  request: { method: string; url: string } | undefined;

  [HTTP_REQUEST](details: { method: string; url: string }): void {
    this.request = details;
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
