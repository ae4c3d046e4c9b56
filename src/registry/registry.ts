/**
 * The functions of an instance. The worker and the dispatch path see them
 * through `Registry` (look one up, list the names); only the facade adds.
 */
import { DispatchError } from '../core/errors.js';
import { checkKeys } from '../core/option-keys.js';
import { textProblem } from '../core/storable.js';
import { assertFlowOptions, type FunctionFlowOptions } from './flow.js';
import type { FunctionOptions, Handler } from './handler.js';
import { isStandardSchema, type Validator } from './validate.js';

export interface RegisteredFunction {
  readonly name: string;
  readonly options: Readonly<
    Required<Omit<FunctionOptions, 'maxAttempts' | 'validate' | 'concurrency' | 'rateLimit'>>
  > & {
    readonly maxAttempts: number | undefined;
    readonly validate: Validator | undefined;
    /** The function's flow-control options, when it has any. */
    readonly flow: FunctionFlowOptions | undefined;
  };
  // biome-ignore lint/suspicious/noExplicitAny: the registry holds handlers of every input type.
  readonly handler: Handler<any, unknown>;
}

export interface Registry {
  get(name: string): RegisteredFunction | undefined;
  names(): string[];
}

const FUNCTION_NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;
const DEFAULT_TIMEOUT_MS = 300_000;
// Every option key, so that a misspelt one is refused (the type checker keeps it complete).
const FUNCTION_OPTION_KEYS = {
  retryPolicy: true,
  maxAttempts: true,
  timeoutMs: true,
  retryUnknownErrors: true,
  validate: true,
  concurrency: true,
  rateLimit: true,
} as const satisfies Record<keyof FunctionOptions, true>;

export class FunctionRegistry implements Registry {
  readonly #functions = new Map<string, RegisteredFunction>();

  /** Checks a new function's name, handler and options; throws INVALID_CONFIG / INVALID_OPTION. */
  check(name: string, handler: unknown, options: FunctionOptions): void {
    if (!FUNCTION_NAME.test(name)) {
      throw new DispatchError(
        'INVALID_CONFIG',
        `invalid function name ${JSON.stringify(name)}: use 1-128 letters, digits and _.:/-`,
      );
    }
    if (this.#functions.has(name)) {
      throw new DispatchError(
        'INVALID_CONFIG',
        `function ${JSON.stringify(name)} is already registered`,
      );
    }
    if (typeof handler !== 'function') {
      throw new DispatchError('INVALID_CONFIG', `handler of ${name} is not a function`);
    }
    checkKeys(options, FUNCTION_OPTION_KEYS, `option of function ${name}`);
    validateFunctionOptions(name, options);
  }

  add(fn: RegisteredFunction): void {
    this.#functions.set(fn.name, fn);
  }

  get(name: string): RegisteredFunction | undefined {
    return this.#functions.get(name);
  }

  names(): string[] {
    return [...this.#functions.keys()];
  }

  get size(): number {
    return this.#functions.size;
  }

  get map(): ReadonlyMap<string, RegisteredFunction> {
    return this.#functions;
  }

  /** The function, or UNKNOWN_FUNCTION. */
  require(name: string): RegisteredFunction {
    const fn = this.#functions.get(name);
    if (!fn) {
      throw new DispatchError(
        'UNKNOWN_FUNCTION',
        `unknown function ${JSON.stringify(name)}: register it with dispatch.func() first`,
      );
    }
    return fn;
  }
}

/** A function's options with their defaults filled in. */
export function resolveOptions(options: FunctionOptions): RegisteredFunction['options'] {
  return {
    retryPolicy: options.retryPolicy ?? 'default',
    maxAttempts: options.maxAttempts,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retryUnknownErrors: options.retryUnknownErrors ?? false,
    validate: options.validate,
    flow:
      options.concurrency || options.rateLimit
        ? { concurrency: options.concurrency, rateLimit: options.rateLimit }
        : undefined,
  };
}

function validateFunctionOptions(name: string, o: FunctionOptions): void {
  if (o.maxAttempts !== undefined && !(Number.isInteger(o.maxAttempts) && o.maxAttempts >= 1)) {
    throw new DispatchError('INVALID_OPTION', `${name}: maxAttempts must be an integer >= 1`);
  }
  if (o.timeoutMs !== undefined && !(Number.isFinite(o.timeoutMs) && o.timeoutMs > 0)) {
    throw new DispatchError('INVALID_OPTION', `${name}: timeoutMs must be a positive number`);
  }
  if (o.validate !== undefined && typeof o.validate !== 'function' && !isStandardSchema(o.validate)) {
    throw new DispatchError('INVALID_OPTION', `${name}: validate must be a function or a Standard Schema`);
  }
  if (
    o.retryPolicy !== undefined &&
    (typeof o.retryPolicy !== 'string' || o.retryPolicy === '' || textProblem(o.retryPolicy))
  ) {
    throw new DispatchError('INVALID_OPTION', `${name}: retryPolicy must be a policy name`);
  }
  assertFlowOptions(name, o);
}
