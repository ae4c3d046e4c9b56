/**
 * The registry of functions and the dispatch API: `createDispatch()` returns
 * the application's instance; `func()` registers a function (a graphile-worker
 * task); `dispatch()` inserts a call inside the caller's transaction.
 */
import type { Kysely } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { migrate, type MigrateResult } from './schema/migrate.js';
import { assertSchemaName } from './schema/ident.js';
import { buildQueries, type NamedQuery, type Queries } from './sql/queries.js';
import type { Attempt, Call, HistoryEntry } from './schema/types.js';
import { DispatchError, fromPgError } from './core/errors.js';
import { defaultLogger } from './core/log.js';
import { Endpoints } from './webhook/endpoints.js';
import {
  validateWebhookInput,
  WebhookFunction,
  type WebhookInput,
  type WebhookOptions,
  type WebhookOutput,
} from './webhook/function.js';
import type { WorkerHandle, WorkerOptions } from './worker/start.js';

/** Anything that can run a query: a pg Pool, PoolClient or Client. */
export interface PgQueryable {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<pg.QueryResult>;
}

/** A pg client inside BEGIN, or a Kysely transaction (or Kysely instance). */
// biome-ignore lint/suspicious/noExplicitAny: Kysely<any> accepts every user database type.
export type Transaction = PgQueryable | Kysely<any>;

export interface DispatchOptions {
  /** Postgres connection string. (Default: `process.env.DATABASE_URL`) */
  connectionString?: string;
  /** An existing pg Pool to use instead of `connectionString`; pgdispatch will not end it. */
  pool?: pg.Pool;
  /** Schema holding pgdispatch's tables and functions. (Default: `pgdispatch`) */
  schema?: string;
  /** A pino logger; each attempt logs one line through a child of it. (Default: pino at `LOG_LEVEL` or info) */
  logger?: Logger;
  /** Size of the pool pgdispatch creates from `connectionString`. (Default: 20) */
  maxPoolSize?: number;
  /** Options of the built-in `webhook` function; an endpoint row overrides them for its calls. */
  webhook?: WebhookOptions;
}

export interface FunctionOptions {
  /** Name of a row of `retry_policies`. (Default: `default`) */
  retryPolicy?: string;
  /** Attempts before the call fails. (Default: the retry policy's `max_attempts`) */
  maxAttempts?: number;
  /** Time limit of one attempt in milliseconds; on expiry the attempt is a `timeout` and its signal aborts. (Default: 300000) */
  timeoutMs?: number;
  /** Whether errors that carry no outcome (a TypeError, say) are retried. (Default: false: they fail the call) */
  retryUnknownErrors?: boolean;
  /** Checks an input at dispatch time; throw to refuse it (the call is not created). */
  validate?: (input: unknown) => void;
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
}

export type ManyCallOptions = Omit<CallOptions, 'idempotencyKey'>;

const FUNCTION_NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;
const DEFAULT_TIMEOUT_MS = 300_000;

export interface RegisteredFunction {
  readonly name: string;
  readonly options: Readonly<Required<Omit<FunctionOptions, 'maxAttempts' | 'validate'>>> & {
    readonly maxAttempts: number | undefined;
    readonly validate: ((input: unknown) => void) | undefined;
  };
  // biome-ignore lint/suspicious/noExplicitAny: the registry holds handlers of every input type.
  readonly handler: Handler<any, unknown>;
}

/** A registered function; dispatch calls to it. */
export class DispatchFunction<I, O> implements RegisteredFunction {
  readonly name: string;
  readonly options: RegisteredFunction['options'];
  readonly handler: Handler<I, O>;
  readonly #dispatch: Dispatch;

  constructor(dispatch: Dispatch, name: string, handler: Handler<I, O>, options: FunctionOptions) {
    this.#dispatch = dispatch;
    this.name = name;
    this.handler = handler;
    this.options = {
      retryPolicy: options.retryPolicy ?? 'default',
      maxAttempts: options.maxAttempts,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      retryUnknownErrors: options.retryUnknownErrors ?? false,
      validate: options.validate,
    };
  }

  /**
   * Dispatches one call and returns its id.
   *
   * @example
   * await db.transaction().execute(async (tx) => {
   *   await tx.insertInto('orders').values(order).execute();
   *   await sendWebhook.dispatch({ url, body: order }, { tx });
   * });
   */
  dispatch(input: I, options: CallOptions = {}): Promise<string> {
    return this.#dispatch.dispatch(this.name, input, options);
  }

  /** Dispatches a batch of calls in one statement; ids come back in input order. */
  dispatchMany(inputs: readonly I[], options: ManyCallOptions = {}): Promise<string[]> {
    return this.#dispatch.dispatchMany(this.name, inputs, options);
  }
}

export class Dispatch {
  readonly schema: string;
  readonly logger: Logger;
  readonly pool: pg.Pool;
  readonly queries: Queries;
  /**
   * The built-in `webhook` function: `{ url | endpoint, body, headers?, eventType? }`,
   * signed with the Standard Webhooks scheme, retried on the `webhook` policy.
   */
  readonly webhook: DispatchFunction<WebhookInput, WebhookOutput>;
  /** Webhook endpoints: add, list, rotate secrets, disable, enable. */
  readonly endpoints: Endpoints;
  readonly #webhook: WebhookFunction;
  readonly #ownsPool: boolean;
  readonly #functions = new Map<string, RegisteredFunction>();
  #registered: Promise<void> | null = null;
  #closed = false;

  constructor(options: DispatchOptions = {}) {
    this.schema = assertSchemaName(options.schema ?? 'pgdispatch');
    this.logger = options.logger ?? defaultLogger();
    if (options.pool) {
      this.pool = options.pool;
      this.#ownsPool = false;
    } else {
      const connectionString = options.connectionString ?? process.env['DATABASE_URL'];
      if (!connectionString) {
        throw new DispatchError(
          'INVALID_CONFIG',
          'no database: pass { connectionString } or { pool } to createDispatch(), or set DATABASE_URL',
        );
      }
      this.pool = new pg.Pool({ connectionString, max: options.maxPoolSize ?? 20 });
      // An idle client losing its connection (Postgres restarting) must not crash the process.
      this.pool.on('error', (err) => this.logger.warn({ err }, 'idle database connection lost'));
      this.pool.on('connect', (client) => {
        client.on('error', (err) => this.logger.warn({ err }, 'database connection lost'));
      });
      this.#ownsPool = true;
    }
    this.queries = buildQueries(this.schema);
    this.endpoints = new Endpoints(this.pool, this.schema);
    this.#webhook = new WebhookFunction(this.endpoints, options.webhook ?? {});
    this.webhook = this.func('webhook', this.#webhook.handler, {
      retryPolicy: options.webhook?.retryPolicy ?? 'webhook',
      // The sender enforces its own timeouts; this is only a backstop.
      timeoutMs: (options.webhook?.timeouts?.totalMs ?? 30_000) + 5_000,
      validate: validateWebhookInput,
    });
  }

  /**
   * Registers a function as a graphile-worker task of the same name.
   *
   * @example
   * const sendWebhook = dispatch.func('send_webhook', async (url: string) => {
   *   const res = await fetch(url, { method: 'POST', body: 'Hello webhook' });
   *   if (!res.ok) throw new TemporaryError(`endpoint answered ${res.status}`);
   * }, { retryPolicy: 'webhook' });
   */
  func<I = unknown, O = unknown>(
    name: string,
    handler: Handler<I, O>,
    options: FunctionOptions = {},
  ): DispatchFunction<I, O> {
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
    validateFunctionOptions(name, options);
    const fn = new DispatchFunction(this, name, handler, options);
    this.#functions.set(name, fn);
    this.#registered = null;
    return fn;
  }

  /** The functions registered on this instance. */
  get functions(): ReadonlyMap<string, RegisteredFunction> {
    return this.#functions;
  }

  /** Dispatches a call to a registered function by name; see `DispatchFunction.dispatch`. */
  async dispatch(name: string, input: unknown, options: CallOptions = {}): Promise<string> {
    this.#validate(name, input);
    const params = [name, serializeInput(input), JSON.stringify(callOptionsToSql(options))];
    await this.#ensureRegistered();
    const rows = await this.#run<{ id: string }>(options.tx, this.queries.dispatch, params);
    return rows[0]!.id;
  }

  /** Dispatches a batch of calls to one function in one statement. */
  async dispatchMany(
    name: string,
    inputs: readonly unknown[],
    options: ManyCallOptions = {},
  ): Promise<string[]> {
    this.#assertKnown(name);
    if (!Array.isArray(inputs)) {
      throw new DispatchError('INVALID_INPUT', 'dispatchMany takes an array of inputs');
    }
    if ('idempotencyKey' in options) {
      throw new DispatchError('INVALID_OPTION', 'dispatchMany does not take an idempotencyKey');
    }
    if (inputs.length === 0) return [];
    for (const input of inputs) this.#validate(name, input);
    const params = [
      name,
      `[${inputs.map((input) => serializeInput(input)).join(',')}]`,
      JSON.stringify(callOptionsToSql(options)),
    ];
    await this.#ensureRegistered();
    const rows = await this.#run<{ id: string }>(options.tx, this.queries.dispatchMany, params);
    return rows.map((r) => r.id);
  }

  /** Creates or upgrades the schema (graphile-worker's, then ours); safe to run concurrently. */
  async migrate(): Promise<MigrateResult> {
    const result = await migrate(this.pool, this.schema, this.logger);
    if (this.#functions.size > 0) await this.registerFunctions(false);
    return result;
  }

  /**
   * Records this instance's functions in `functions` so SQL callers can
   * dispatch them. Workers overwrite the rows; applications only add.
   */
  async registerFunctions(overwrite: boolean): Promise<void> {
    const defs = [...this.#functions.values()].map((f) => ({
      name: f.name,
      retry_policy: f.options.retryPolicy,
      max_attempts: f.options.maxAttempts ?? null,
    }));
    await this.#run(undefined, this.queries.registerFunctions, [JSON.stringify(defs), overwrite]);
  }

  /** Cancels a pending or retrying call; false when it had already finished. */
  async cancel(
    callId: string | number,
    options: { reason?: string; actor?: string; tx?: Transaction } = {},
  ): Promise<boolean> {
    const rows = await this.#run<{ cancelled: boolean }>(options.tx, this.queries.cancelCall, [
      String(callId),
      options.reason ?? null,
      options.actor ?? 'api',
    ]);
    return rows[0]!.cancelled;
  }

  /** Schedules a failed or cancelled call again, now; false when it is not failed or cancelled. */
  async retry(
    callId: string | number,
    options: { actor?: string; tx?: Transaction } = {},
  ): Promise<boolean> {
    const rows = await this.#run<{ retried: boolean }>(options.tx, this.queries.retryCall, [
      String(callId),
      options.actor ?? 'api',
    ]);
    return rows[0]!.retried;
  }

  /** Reads one call, or undefined. */
  async getCall(callId: string | number): Promise<Call | undefined> {
    const rows = await this.#run<Call>(undefined, this.queries.getCall, [String(callId)]);
    return rows[0];
  }

  /** Reads the attempts of one call, in order. */
  getAttempts(callId: string | number): Promise<Attempt[]> {
    return this.#run<Attempt>(undefined, this.queries.getAttempts, [String(callId)]);
  }

  /** The whole story of a call: dispatch, attempts and other status changes, in order. */
  getHistory(callId: string | number): Promise<HistoryEntry[]> {
    return this.#run<HistoryEntry>(undefined, this.queries.getHistory, [String(callId)]);
  }

  /**
   * Runs this instance's functions in this process until `stop()`; several
   * workers (processes) on one database share the calls.
   */
  async worker(options: WorkerOptions = {}): Promise<WorkerHandle> {
    // Loaded on demand: an application that only dispatches never imports graphile-worker.
    const { startWorker } = await import('./worker/start.js');
    // The HTTP client too, now rather than in the first webhook's attempt.
    await this.#webhook.sender();
    return startWorker(this, options);
  }

  /** Ends the pool if this instance created it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#webhook.close();
    if (this.#ownsPool) await this.pool.end();
  }

  #assertKnown(name: string): RegisteredFunction {
    const fn = this.#functions.get(name);
    if (!fn) {
      throw new DispatchError(
        'UNKNOWN_FUNCTION',
        `unknown function ${JSON.stringify(name)}: register it with dispatch.func() first`,
      );
    }
    return fn;
  }

  #validate(name: string, input: unknown): void {
    const validate = this.#assertKnown(name).options.validate;
    if (!validate) return;
    try {
      validate(input);
    } catch (err) {
      if (err instanceof DispatchError) throw err;
      throw new DispatchError('INVALID_INPUT', `${name}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  #ensureRegistered(): Promise<void> {
    if (!this.#registered) {
      this.#registered = this.registerFunctions(false).catch((err: unknown) => {
        this.#registered = null;
        throw err;
      });
    }
    return this.#registered;
  }

  /** Runs a named query on the caller's transaction, or on the pool. */
  async #run<R>(tx: Transaction | undefined, query: NamedQuery, values: unknown[]): Promise<R[]> {
    try {
      if (tx === undefined) {
        return (await this.pool.query({ ...query, values })).rows as R[];
      }
      if (isKysely(tx)) {
        // Imported here: the caller who passes a Kysely transaction has it loaded already.
        const { CompiledQuery } = await import('kysely');
        const result = await tx.executeQuery(CompiledQuery.raw(query.text, values));
        return result.rows as R[];
      }
      if (typeof tx.query !== 'function') {
        throw new DispatchError('INVALID_OPTION', 'tx must be a pg client or a Kysely transaction');
      }
      return (await tx.query({ ...query, values })).rows as R[];
    } catch (err) {
      throw fromPgError(err);
    }
  }
}

// biome-ignore lint/suspicious/noExplicitAny: see Transaction.
function isKysely(tx: Transaction): tx is Kysely<any> {
  return typeof (tx as { executeQuery?: unknown }).executeQuery === 'function';
}

function validateFunctionOptions(name: string, o: FunctionOptions): void {
  if (o.maxAttempts !== undefined && !(Number.isInteger(o.maxAttempts) && o.maxAttempts >= 1)) {
    throw new DispatchError('INVALID_OPTION', `${name}: maxAttempts must be an integer >= 1`);
  }
  if (o.timeoutMs !== undefined && !(Number.isFinite(o.timeoutMs) && o.timeoutMs > 0)) {
    throw new DispatchError('INVALID_OPTION', `${name}: timeoutMs must be a positive number`);
  }
  if (o.retryPolicy !== undefined && (typeof o.retryPolicy !== 'string' || o.retryPolicy === '')) {
    throw new DispatchError('INVALID_OPTION', `${name}: retryPolicy must be a policy name`);
  }
}

function serializeInput(input: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(input === undefined ? null : input);
  } catch (err) {
    throw new DispatchError(
      'INVALID_INPUT',
      `input is not JSON-serialisable: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (json === undefined) {
    throw new DispatchError('INVALID_INPUT', `input is not JSON-serialisable: ${typeof input}`);
  }
  // jsonb cannot hold NUL characters.
  if (json.includes('\\u0000')) {
    throw new DispatchError(
      'INVALID_INPUT',
      'input contains a NUL character, which Postgres jsonb cannot store',
    );
  }
  return json;
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
    if (typeof o.idempotencyKey !== 'string' || o.idempotencyKey === '') {
      throw new DispatchError('INVALID_OPTION', 'idempotencyKey must be a non-empty string');
    }
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
  if (o.retryPolicy !== undefined) out['retry_policy'] = o.retryPolicy;
  if (o.maxAttempts !== undefined) {
    if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1) {
      throw new DispatchError('INVALID_OPTION', 'maxAttempts must be an integer >= 1');
    }
    out['max_attempts'] = o.maxAttempts;
  }
  return out;
}

/** Creates the application's dispatch instance. */
export function createDispatch(options: DispatchOptions = {}): Dispatch {
  return new Dispatch(options);
}
