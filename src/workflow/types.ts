/**
 * The workflow API as the body sees it: options, the context and the
 * definition the registry keeps beside the function.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { DispatchError } from '../core/errors.js';

export interface WorkflowOptions {
  /** Name of a row of `retry_policies` for the call itself. (Default: `default`) */
  retryPolicy?: string;
  /** Checks an input at dispatch time; throw to refuse it. */
  validate?: (input: unknown) => void;
  /** Recorded on each call; replays compare step names, not versions. (Default: a hash of the handler's source) */
  version?: string;
  /** Retry policy of steps that name none. (Default: `default`) */
  stepRetryPolicy?: string;
  /** Largest step output, as JSON bytes; a larger one fails its step for good. (Default: 1048576) */
  maxStepOutputBytes?: number;
  /** Most steps one call may take; the next one fails the workflow. (Default: 10000) */
  maxSteps?: number;
}

export interface StepOptions {
  /** Name of a row of `retry_policies` for this step. (Default: the workflow's `stepRetryPolicy`) */
  retryPolicy?: string;
  /** Whether errors that carry no outcome (a TypeError, say) are retried. (Default: false) */
  retryUnknownErrors?: boolean;
}

/** What a step's function gets. */
export interface StepContext {
  /** Aborts when the call is cancelled or the worker shuts down. */
  signal: AbortSignal;
  /** This run of the step, from 1. */
  attempt: number;
}

export interface WaitOptions {
  /** The signal key to wait for, as `signal(key, payload)` sends it. */
  key: string;
  /** Give up after this long: waitFor returns null. (Default: wait forever) */
  timeoutMs?: number;
}

/** A function to call from a workflow: what `dispatch.func` or `dispatch.workflow` returns. */
export interface CallTarget<I, O> {
  readonly name: string;
  // biome-ignore lint/suspicious/noExplicitAny: only the input and output types matter here.
  readonly handler: (input: I, ctx: any) => O | Promise<O>;
}

export interface ChildOptions {
  /** The step's name. (Default: the function's name) */
  name?: string;
  /** Overrides the child function's retry policy. */
  retryPolicy?: string;
  /** Overrides the child function's max attempts. */
  maxAttempts?: number;
  /** graphile-worker priority of the child: lower runs first. */
  priority?: number;
}

export interface WorkflowContext {
  /** The call's id. */
  readonly callId: string;
  /** This run of the body, from 1 (each wake-up is a new run). */
  readonly attempt: number;
  readonly functionName: string;
  /** The version this code records (`options.version`). */
  readonly version: string;
  /** Aborts when the call is cancelled or the worker shuts down. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /**
   * Runs `fn` once: its output is stored, and a replay returns it without
   * running `fn`. A retryable failure retries on the step's policy (the
   * workflow sleeps meanwhile); a permanent one throws a STEP_FAILED error.
   */
  step<T>(
    name: string,
    fn: (step: StepContext) => T | Promise<T>,
    options?: StepOptions,
  ): Promise<T>;
  /** Like `step`, inside a transaction that also records the step: its effects apply exactly once. */
  tx<T>(name: string, fn: (tx: pg.PoolClient) => Promise<T>, options?: StepOptions): Promise<T>;
  /** Suspends the workflow for `ms` milliseconds. */
  sleep(name: string, ms: number): Promise<void>;
  /** Suspends the workflow until `at`. */
  sleepUntil(name: string, at: Date): Promise<void>;
  /** The payload of the first signal sent to `key`, or null after `timeoutMs`. */
  waitFor<T = unknown>(name: string, options: WaitOptions): Promise<T | null>;
  /** Calls a function (or workflow) as a child and returns its output; its failure throws STEP_FAILED. */
  call<I, O>(fn: CallTarget<I, O> | string, input: I, options?: ChildOptions): Promise<Awaited<O>>;
  /** All results, as Promise.all; the workflow sleeps until every one is in. */
  gather<T extends readonly unknown[] | []>(
    steps: T,
  ): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }>;
  /** The first to succeed, as Promise.any. */
  any<T>(steps: readonly Promise<T>[]): Promise<T>;
  /** The time, recorded: a replay sees the same. */
  now(): Date;
  /** A random number in [0, 1), recorded. */
  random(): number;
  /** True for code past the patch `id`; false while an older call replays history made without it. */
  patched(id: string): boolean;
}

export type WorkflowHandler<I, O> = (input: I, ctx: WorkflowContext) => Promise<O> | O;

export interface WorkflowDefinition {
  // biome-ignore lint/suspicious/noExplicitAny: the registry holds bodies of every input type.
  readonly handler: WorkflowHandler<any, unknown>;
  readonly version: string;
  readonly stepRetryPolicy: string;
  readonly maxStepOutputBytes: number;
  readonly maxSteps: number;
}

const WORKFLOW = Symbol.for('pgdispatch.workflow');

export const DEFAULT_MAX_STEP_OUTPUT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_STEPS = 10_000;

/** Marks a registered function as a workflow with this body. */
export function defineWorkflow(
  target: object,
  name: string,
  // biome-ignore lint/suspicious/noExplicitAny: see WorkflowDefinition.
  handler: WorkflowHandler<any, unknown>,
  options: WorkflowOptions,
): void {
  const positive = (v: number | undefined, what: string) => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
      throw new DispatchError('INVALID_OPTION', `${name}: ${what} must be a positive integer`);
    }
  };
  positive(options.maxStepOutputBytes, 'maxStepOutputBytes');
  positive(options.maxSteps, 'maxSteps');
  if (options.version !== undefined && (typeof options.version !== 'string' || !options.version)) {
    throw new DispatchError('INVALID_OPTION', `${name}: version must be a non-empty string`);
  }
  const def: WorkflowDefinition = {
    handler,
    version:
      options.version ?? createHash('sha256').update(handler.toString()).digest('hex').slice(0, 12),
    stepRetryPolicy: options.stepRetryPolicy ?? 'default',
    maxStepOutputBytes: options.maxStepOutputBytes ?? DEFAULT_MAX_STEP_OUTPUT_BYTES,
    maxSteps: options.maxSteps ?? DEFAULT_MAX_STEPS,
  };
  Object.defineProperty(target, WORKFLOW, { value: def });
}

/** The workflow a registered function is, if it is one. */
export function workflowOf(fn: object): WorkflowDefinition | undefined {
  return (fn as { [WORKFLOW]?: WorkflowDefinition })[WORKFLOW];
}

/** The body of a workflow runs in a worker only, never as a plain handler. */
export function notDirectlyCallable(): never {
  throw new DispatchError('INVALID_STATE', 'a workflow runs in a worker; dispatch it instead');
}
