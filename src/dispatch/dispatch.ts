/**
 * The dispatch path: check the input against the function, serialise it and
 * the call options, and insert the call (and its job) in one statement.
 */
import { DispatchError } from '../core/errors.js';
import { checkKeys } from '../core/option-keys.js';
import { validateInput } from '../registry/validate.js';
import { type DispatchSpan, loadOpenTelemetry, openTelemetryLoaded, startDispatchSpan } from '../core/tracing.js';
import { type ConcurrencyOption, flowSqlOptions, type RateLimitOption } from '../registry/flow.js';
import type { FunctionRegistry, Registry } from '../registry/registry.js';
import type { Runtime } from '../sql/runtime.js';
import { checkOptionText, serializeInput } from './checks.js';
import { NotifyLimiter } from './notify.js';
import { runIn, type Transaction } from './transaction.js';

export interface CallOptions {
  /** Run inside this transaction: the call exists if and only if it commits. (Default: autocommit on the instance's pool) */
  tx?: Transaction;
  /** Earliest time of the first attempt. (Default: now) */
  runAt?: Date;
  /** A key already used for this function returns the existing call instead of a new one. */
  idempotencyKey?: string;
  /** graphile-worker priority: lower runs first. (Default: 0) */
  priority?: number;
  /** Overrides the function's retry policy for this call. */
  retryPolicy?: string;
  /** Overrides the function's max attempts for this call. */
  maxAttempts?: number;
  /** A concurrency key and limit for this call (overrides the function's). */
  concurrency?: ConcurrencyOption;
  /** A rate-limit key and limit for this call (overrides the function's); one key per call. */
  rateLimit?: RateLimitOption;
  /**
   * Of the calls dispatched with this key within `delayMs` of each other,
   * only the last runs, with its input, `delayMs` after it; each returns the
   * id of that one call.
   */
  debounce?: { key: string; delayMs: number };
}

export type ManyCallOptions = Omit<
  CallOptions,
  'idempotencyKey' | 'concurrency' | 'rateLimit' | 'debounce'
>;

// Every option key, so that a misspelt one is refused (the type checker
// keeps these lists complete).
const MANY_CALL_OPTION_KEYS = {
  tx: true,
  runAt: true,
  priority: true,
  retryPolicy: true,
  maxAttempts: true,
} as const satisfies Record<keyof ManyCallOptions, true>;
const CALL_OPTION_KEYS = {
  ...MANY_CALL_OPTION_KEYS,
  idempotencyKey: true,
  concurrency: true,
  rateLimit: true,
  debounce: true,
} as const satisfies Record<keyof CallOptions, true>;

/** Inserts calls of the registry's functions; records the functions in SQL before the first. */
export class Dispatcher {
  readonly #rt: Runtime;
  readonly #registry: FunctionRegistry;
  readonly #maxInputBytes: number;
  readonly #notify: NotifyLimiter;
  /** The registration of the functions on the pool, once started. */
  #registered: Promise<void> | null = null;
  /** That registration committed: a dispatch needs nothing before its statement. */
  #registeredDone = false;

  constructor(
    rt: Runtime,
    registry: FunctionRegistry,
    maxInputBytes: number,
    notify = new NotifyLimiter(0, false),
  ) {
    this.#rt = rt;
    this.#registry = registry;
    this.#maxInputBytes = maxInputBytes;
    this.#notify = notify;
  }

  async dispatch(name: string, input: unknown, options: CallOptions): Promise<string> {
    checkKeys(options, CALL_OPTION_KEYS, 'dispatch option');
    let value = this.#validate(name, input);
    if (value instanceof Promise) value = await value;
    const sqlOptions = this.#notify.apply(callOptionsToSql(options));
    const flow = flowSqlOptions(name, value, options, this.#registry.require(name).options.flow);
    if (flow) Object.assign(sqlOptions, flow);
    const debounce = options.debounce === undefined ? undefined : debounceSqlOptions(options);
    if (debounce) {
      if (flow) {
        throw new DispatchError(
          'INVALID_OPTION',
          `${name}: a debounced call cannot also have a concurrency or rate limit`,
        );
      }
      Object.assign(sqlOptions, debounce);
    }
    const serialized = serializeInput(value, this.#maxInputBytes);
    await this.#ensureRegistered(options.tx);
    if (!openTelemetryLoaded()) await loadOpenTelemetry();
    const span = startDispatchSpan(name, 1);
    if (span) sqlOptions['trace_context'] = span.carrier;
    const q = this.#rt.queries;
    // Calls without a key or debounce take dispatch() alone.
    const query = flow ? q.dispatchKeyed : debounce ? q.dispatchDebounced : q.dispatch;
    const rows = await traced(span, () =>
      runIn<{ id: string }>(this.#rt, options.tx, query, [
        name,
        serialized,
        JSON.stringify(sqlOptions),
      ]),
    );
    return rows[0]!.id;
  }

  async dispatchMany(
    name: string,
    inputs: readonly unknown[],
    options: ManyCallOptions,
  ): Promise<string[]> {
    this.#registry.require(name);
    if (!Array.isArray(inputs)) {
      throw new DispatchError('INVALID_INPUT', 'dispatchMany takes an array of inputs');
    }
    if ('idempotencyKey' in options) {
      throw new DispatchError('INVALID_OPTION', 'dispatchMany does not take an idempotencyKey');
    }
    checkKeys(options, MANY_CALL_OPTION_KEYS, 'dispatchMany option');
    if (this.#registry.require(name).options.flow) {
      throw new DispatchError(
        'INVALID_OPTION',
        `dispatchMany does not take flow-control keys: dispatch the calls of ${name} one by one`,
      );
    }
    if (inputs.length === 0) return [];
    let values = inputs.map((input) => this.#validate(name, input));
    if (values.some((v) => v instanceof Promise)) values = await Promise.all(values);
    const sqlOptions = this.#notify.apply(callOptionsToSql(options));
    const serialized = `[${values.map((input) => serializeInput(input, this.#maxInputBytes)).join(',')}]`;
    await this.#ensureRegistered(options.tx);
    if (!openTelemetryLoaded()) await loadOpenTelemetry();
    const span = startDispatchSpan(name, inputs.length);
    if (span) sqlOptions['trace_context'] = span.carrier;
    const rows = await traced(span, () =>
      runIn<{ id: string }>(this.#rt, options.tx, this.#rt.queries.dispatchMany, [
        name,
        serialized,
        JSON.stringify(sqlOptions),
      ]),
    );
    return rows.map((r) => r.id);
  }

  /** A function was added: record the functions again before the next dispatch. */
  changed(): void {
    this.#registered = null;
    this.#registeredDone = false;
  }

  /** The input to store (a schema's output), or its promise for an async schema. */
  #validate(name: string, input: unknown): unknown {
    const validate = this.#registry.require(name).options.validate;
    return validate ? validateInput(name, validate, input) : input;
  }

  /**
   * The functions' rows exist before a call's statement needs them. Without
   * a transaction, the registration runs on the pool. With one, it runs
   * inside it as well until the one on the pool has committed: waiting for
   * a pool connection while the caller holds one could wait forever (every
   * client of the pool in such a transaction, or a pooler with one server
   * connection). Rows written in a transaction that rolls back go with it;
   * the registration on the pool lands meanwhile.
   */
  async #ensureRegistered(tx: Transaction | undefined): Promise<void> {
    if (this.#registeredDone) return;
    const onPool = this.#registerOnPool();
    if (tx === undefined) return onPool;
    // Its error, if any, comes again from the registration in `tx`.
    onPool.catch(() => undefined);
    await registerFunctions(this.#rt, this.#registry, false, tx);
  }

  #registerOnPool(): Promise<void> {
    if (!this.#registered) {
      const registering: Promise<void> = registerFunctions(this.#rt, this.#registry, false).then(
        () => {
          if (this.#registered === registering) this.#registeredDone = true;
        },
        (err: unknown) => {
          if (this.#registered === registering) this.#registered = null;
          throw err;
        },
      );
      this.#registered = registering;
    }
    return this.#registered;
  }
}

/**
 * Records the registry's functions in `functions` so SQL callers can
 * dispatch them. Workers overwrite the rows; applications only add.
 */
export async function registerFunctions(
  rt: Runtime,
  registry: Registry,
  overwrite: boolean,
  tx?: Transaction,
): Promise<void> {
  // In name order: two registrations of new functions (which may run in
  // callers' transactions) then take their rows' locks in one order.
  const defs = [...registry.names()]
    .sort()
    .map((name) => registry.get(name)!)
    .map((f) => ({
      name: f.name,
      retry_policy: f.options.retryPolicy,
      max_attempts: f.options.maxAttempts ?? null,
    }));
  await runIn(rt, tx, rt.queries.registerFunctions, [JSON.stringify(defs), overwrite]);
}

function debounceSqlOptions(o: CallOptions): Record<string, unknown> {
  const d = o.debounce;
  if (d === null || typeof d !== 'object') {
    throw new DispatchError('INVALID_OPTION', 'debounce must be { key, delayMs }');
  }
  if (typeof d.key !== 'string' || d.key.length < 1 || d.key.length > 256) {
    throw new DispatchError('INVALID_OPTION', 'debounce key must be a string of 1-256 characters');
  }
  if (typeof d.delayMs !== 'number' || !Number.isFinite(d.delayMs) || d.delayMs <= 0) {
    throw new DispatchError(
      'INVALID_OPTION',
      `debounce delayMs must be a positive number, got ${String(d.delayMs)}`,
    );
  }
  if (o.runAt !== undefined || o.idempotencyKey !== undefined) {
    throw new DispatchError(
      'INVALID_OPTION',
      'a debounced call takes neither runAt nor idempotencyKey',
    );
  }
  return { debounce_key: d.key, debounce_ms: d.delayMs };
}

function callOptionsToSql(o: CallOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.runAt !== undefined) {
    if (!(o.runAt instanceof Date) || Number.isNaN(o.runAt.getTime())) {
      throw new DispatchError('INVALID_OPTION', 'runAt must be a valid Date');
    }
    out['run_at'] = o.runAt.toISOString();
  }
  if (o.idempotencyKey !== undefined) {
    // Its rule (a non-empty string, 255 characters at most) is dispatch_settings' in SQL.
    checkOptionText('idempotencyKey', o.idempotencyKey);
    out['idempotency_key'] = o.idempotencyKey;
  }
  if (o.priority !== undefined) {
    if (!Number.isInteger(o.priority) || o.priority < -32768 || o.priority > 32767) {
      throw new DispatchError(
        'INVALID_OPTION',
        'priority must be an integer between -32768 and 32767',
      );
    }
    out['priority'] = o.priority;
  }
  if (o.retryPolicy !== undefined) {
    checkOptionText('retryPolicy', o.retryPolicy);
    out['retry_policy'] = o.retryPolicy;
  }
  if (o.maxAttempts !== undefined) {
    if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1) {
      throw new DispatchError('INVALID_OPTION', 'maxAttempts must be an integer >= 1');
    }
    out['max_attempts'] = o.maxAttempts;
  }
  return out;
}

/** Runs the insert, ending the dispatch's span (when traced) with its ids or its error. */
async function traced(
  span: DispatchSpan | undefined,
  insert: () => Promise<{ id: string }[]>,
): Promise<{ id: string }[]> {
  if (!span) return insert();
  try {
    const rows = await insert();
    span.end(rows.map((r) => r.id));
    return rows;
  } catch (err) {
    span.end([], err);
    throw err;
  }
}
