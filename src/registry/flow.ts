/**
 * Flow-control options of a function and of a call: a key with a
 * concurrency limit and/or a rate limit, checked here with stable codes
 * before anything is written, and turned into dispatch_keyed's options.
 */
import { DispatchError } from '../core/errors.js';

export interface ConcurrencyOption {
  /** Calls sharing a key share the limit, across all workers, e.g. `tenant:42`. */
  key: string;
  /** Calls of the key that may run at once; 1 runs them one after the other. */
  limit: number;
}

export interface RateLimitOption {
  /** Calls sharing a key share the limit, across all workers, e.g. `endpoint:acme`. */
  key: string;
  /** Starts allowed per interval. */
  limit: number;
  /** The interval, in ms: `{ limit: 50, intervalMs: 1000 }` is 50 a second. */
  intervalMs: number;
}

/** A function's flow option: the key may be derived from each call's input. */
export type KeyedBy<T, I> = Omit<T, 'key'> & { key: string | ((input: I) => string) };

export interface FlowOptions {
  concurrency?: ConcurrencyOption | undefined;
  rateLimit?: RateLimitOption | undefined;
}

export interface FunctionFlowOptions<I = unknown> {
  concurrency?: KeyedBy<ConcurrencyOption, I> | undefined;
  rateLimit?: KeyedBy<RateLimitOption, I> | undefined;
}

function positiveInteger(where: string, what: string, n: unknown): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new DispatchError(
      'INVALID_OPTION',
      `${where}: ${what} must be an integer >= 1, got ${String(n)}`,
    );
  }
}

/** Checks flow options (a key may be a function here); throws INVALID_OPTION. */
export function assertFlowOptions(where: string, o: FunctionFlowOptions): void {
  if (o.concurrency !== undefined) {
    if (o.concurrency === null || typeof o.concurrency !== 'object') {
      throw new DispatchError('INVALID_OPTION', `${where}: concurrency must be { key, limit }`);
    }
    positiveInteger(where, 'concurrency limit', o.concurrency.limit);
    if (typeof o.concurrency.key !== 'function') assertKey(where, o.concurrency.key);
  }
  if (o.rateLimit !== undefined) {
    if (o.rateLimit === null || typeof o.rateLimit !== 'object') {
      throw new DispatchError(
        'INVALID_OPTION',
        `${where}: rateLimit must be { key, limit, intervalMs }`,
      );
    }
    positiveInteger(where, 'rate limit', o.rateLimit.limit);
    const ms = o.rateLimit.intervalMs;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new DispatchError(
        'INVALID_OPTION',
        `${where}: rate limit intervalMs must be a positive number, got ${String(ms)}`,
      );
    }
    if (typeof o.rateLimit.key !== 'function') assertKey(where, o.rateLimit.key);
  }
}

export function assertKey(where: string, key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length < 1 || key.length > 256) {
    throw new DispatchError(
      'INVALID_OPTION',
      `${where}: a flow-control key is a string of 1-256 characters, got ${JSON.stringify(key)}`,
    );
  }
}

/**
 * The options dispatch_keyed takes for a call, from the call's own flow
 * options, else the function's; undefined for a call without a key.
 */
export function flowSqlOptions(
  fnName: string,
  input: unknown,
  call: FlowOptions,
  fn: FunctionFlowOptions | undefined,
): Record<string, unknown> | undefined {
  if (call.concurrency === undefined && call.rateLimit === undefined && fn === undefined) {
    return undefined;
  }
  assertFlowOptions(fnName, call);
  const concurrency = call.concurrency ?? fn?.concurrency;
  const rate = call.rateLimit ?? fn?.rateLimit;
  if (concurrency === undefined && rate === undefined) return undefined;
  const keyOf = (k: string | ((input: unknown) => string)) => {
    const key = typeof k === 'function' ? k(input) : k;
    assertKey(fnName, key);
    return key;
  };
  const cKey = concurrency && keyOf(concurrency.key);
  const rKey = rate && keyOf(rate.key);
  if (cKey !== undefined && rKey !== undefined && cKey !== rKey) {
    throw new DispatchError(
      'INVALID_OPTION',
      `${fnName}: a call has one flow-control key; concurrency and rateLimit name ${cKey} and ${rKey}`,
    );
  }
  const out: Record<string, unknown> = { flow_key: cKey ?? rKey };
  if (concurrency) out['concurrency_limit'] = concurrency.limit;
  if (rate) {
    out['rate_limit'] = rate.limit;
    out['rate_interval_ms'] = rate.intervalMs;
  }
  return out;
}
