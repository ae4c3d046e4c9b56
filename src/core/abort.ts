/**
 * A cheaper abort signal for the worker's own hot path. An AbortController
 * and the EventTarget listeners on its signal cost a few microseconds each
 * per attempt; an EventEmitter with `aborted` and `reason` costs a tenth of
 * that, and undici accepts one wherever it takes a signal.
 */
import { EventEmitter } from 'node:events';

export class AbortEmitter extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    callEach(this.rawListeners('abort') as Array<() => void>, this);
  }
}

/**
 * Calls every listener even when one throws, as an EventTarget does: an
 * abort must reach them all. A throw surfaces as an uncaught exception.
 */
export function callEach(listeners: Iterable<() => void>, self?: unknown): void {
  for (const listener of listeners) {
    try {
      listener.call(self);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

/** What may abort a request: a standard AbortSignal, or the worker's AbortEmitter. */
export type AbortSource = AbortSignal | AbortEmitter;

/** Calls `listener` once when `source` aborts; returns the function that stops listening. */
export function onAbort(source: AbortSource, listener: () => void): () => void {
  if (source instanceof AbortEmitter) {
    source.once('abort', listener);
    return () => source.removeListener('abort', listener);
  }
  source.addEventListener('abort', listener, { once: true });
  return () => source.removeEventListener('abort', listener);
}

/**
 * The key of the method by which the worker's call context hands out an
 * AbortEmitter that aborts with its `signal`, without creating the signal.
 */
export const ABORT_EMITTER: unique symbol = Symbol('pgdispatch.abortEmitter');

/** The cheaper equivalent of `ctx.signal` when the worker offers one, else `ctx.signal`. */
export function abortSourceOf(ctx: { readonly signal: AbortSignal }): AbortSource {
  const own = (ctx as { [ABORT_EMITTER]?: () => AbortEmitter })[ABORT_EMITTER];
  return own ? own.call(ctx) : ctx.signal;
}
