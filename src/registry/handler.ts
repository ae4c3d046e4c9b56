/** What a function is: its handler, the context it gets, and its options. */
import type { Logger } from 'pino';
import type { Validator } from './validate.js';
import type { FunctionFlowOptions } from './flow.js';

export interface FunctionOptions {
  /** Name of a row of `retry_policies`. (Default: `default`) */
  retryPolicy?: string;
  /** Attempts before the call fails. (Default: the retry policy's `max_attempts`) */
  maxAttempts?: number;
  /** Time limit of one attempt in milliseconds; on expiry the attempt is a `timeout` and its signal aborts. (Default: 300000) */
  timeoutMs?: number;
  /** Whether errors that carry no outcome (a TypeError, say) are retried. (Default: false: they fail the call) */
  retryUnknownErrors?: boolean;
  /**
   * Checks an input at dispatch time: a function that throws to refuse it, or a
   * Standard Schema (Zod, Valibot, ArkType…), whose output is what the call stores
   * and whose types the handler's input is inferred from. A refused input is an
   * `INVALID_INPUT` DispatchError and creates no call.
   */
  validate?: Validator;
  /** At most `limit` calls of a key run at once across all workers; the others wait without holding a slot. (Default: no limit) */
  // biome-ignore lint/suspicious/noExplicitAny: the key function takes the function's input type.
  concurrency?: FunctionFlowOptions<any>['concurrency'];
  /** At most `limit` calls of a key start per `intervalMs` across all workers. (Default: no limit) */
  // biome-ignore lint/suspicious/noExplicitAny: the key function takes the function's input type.
  rateLimit?: FunctionFlowOptions<any>['rateLimit'];
}

/** What the handler gets besides its input. */
export interface CallContext {
  /** The call's id, stable across its attempts. */
  callId: string;
  /** This attempt's number, from 1. */
  attempt: number;
  /** The function's name. */
  functionName: string;
  /** Aborts when the attempt times out or the worker shuts down. */
  signal: AbortSignal;
  /** A pino child logger bound to the function, call and attempt. */
  logger: Logger;
  /** Attach HTTP details to this attempt's row (`http_status`, `response`). */
  report(details: { httpStatus?: number; response?: unknown }): void;
}

export type Handler<I, O> = (input: I, ctx: CallContext) => Promise<O> | O;
