/**
 * The public facade: `createDispatch()` returns the application's instance;
 * `func()` registers a function (a graphile-worker task); `dispatch()`
 * inserts a call inside the caller's transaction. It builds the runtime and
 * the registry that everything below it is given, and delegates.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import pg from 'pg';
import type { Logger } from 'pino';
import { DispatchError } from './core/errors.js';
import { assertSchemaName } from './core/ident.js';
import { defaultLogger } from './core/log.js';
import { checkKeys } from './core/option-keys.js';
import { boundedText } from './core/storable.js';
import { DEFAULT_MAX_INPUT_BYTES, serializeInput } from './dispatch/checks.js';
import {
  type CallOptions,
  Dispatcher,
  type ManyCallOptions,
  registerFunctions,
} from './dispatch/dispatch.js';
import { NotifyLimiter } from './dispatch/notify.js';
import { runIn, type Transaction } from './dispatch/transaction.js';
import type { FunctionOptions, Handler } from './registry/handler.js';
import { FunctionRegistry, type RegisteredFunction, resolveOptions } from './registry/registry.js';
import { migrate, type MigrateResult } from './schema/migrate.js';
import type { Attempt, Call, HistoryEntry } from './schema/types.js';
import { createRuntime, RUNTIME, type Runtime } from './sql/runtime.js';
import { type Schedule, Schedules, type ScheduleSpec } from './schedule/schedules.js';
import { AdaptiveConcurrency } from './webhook/adaptive.js';
import { Endpoints } from './webhook/endpoints.js';
import {
  validateWebhookInput,
  WebhookFunction,
  type WebhookInput,
  type WebhookOptions,
  type WebhookOutput,
} from './webhook/function.js';
import type { WorkerHandle, WorkerOptions } from './worker/start.js';
import {
  defineWorkflow,
  notDirectlyCallable,
  type WorkflowHandler,
  type WorkflowOptions,
} from './workflow/types.js';

export type { CallOptions, ManyCallOptions } from './dispatch/dispatch.js';
export type { PgQueryable, Transaction } from './dispatch/transaction.js';
export type { CallContext, FunctionOptions, Handler } from './registry/handler.js';
export type { RegisteredFunction } from './registry/registry.js';
export type { Validator } from './registry/validate.js';

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
  /**
   * A connection string that reaches Postgres itself, not through a pooler in
   * transaction mode: workers LISTEN, claim and record on it, and migrations
   * take their session lock on it. Dispatch and the API keep using
   * `connectionString`. (Default: `process.env.DATABASE_DIRECT_URL`, else `connectionString`)
   */
  directConnectionString?: string;
  /** An existing pg Pool on a direct connection, instead of `directConnectionString`; pgdispatch will not end it. */
  directPool?: pg.Pool;
  /**
   * Whether statements on `connectionString` (and on `tx`) are named prepared
   * statements. Turn off behind PgBouncer before 1.21 in transaction mode.
   * The direct connection always prepares. (Default: true, false when a
   * direct connection is set, which says the main one goes through a pooler)
   */
  preparedStatements?: boolean;
  /**
   * Coalesces the wake-up notifications of dispatches: at most one per this
   * many ms from this instance, and the workers claim again this long after
   * each, for the calls left unannounced meanwhile. Every notifying
   * transaction holds a database-wide lock through its commit, so with many
   * concurrent dispatching transactions this raises their commit rate, at the
   * cost of up to this much latency (and, for a transaction that commits
   * after that second claim, up to the workers' poll interval).
   * 0: every dispatch notifies. (Default: 0)
   */
  notifyIntervalMs?: number;
  /**
   * No notifications at all: dispatches announce nothing and workers do not
   * LISTEN (needed behind a pooler in transaction mode without a direct
   * connection); workers find calls by their poll, so a call waits up to the
   * worker's `pollIntervalMs`. (Default: false)
   */
  pollOnly?: boolean;
  /** Options of the built-in `webhook` function; an endpoint row overrides them for its calls. */
  webhook?: WebhookOptions;
  /** Largest input `dispatch()` accepts, in bytes of JSON; larger ones get `INVALID_INPUT`. (Default: 1048576) */
  maxInputBytes?: number;
}

// Every option key, so that a misspelt one is refused (the type checker
// keeps the list complete).
const DISPATCH_OPTION_KEYS = {
  connectionString: true,
  pool: true,
  schema: true,
  logger: true,
  maxPoolSize: true,
  webhook: true,
  maxInputBytes: true,
  directConnectionString: true,
  directPool: true,
  preparedStatements: true,
  notifyIntervalMs: true,
  pollOnly: true,
} as const satisfies Record<keyof DispatchOptions, true>;
const WEBHOOK_OPTION_KEYS = {
  secret: true,
  allowPrivateNetworks: true,
  allow: true,
  httpsOnly: true,
  timeouts: true,
  maxResponseBytes: true,
  perOriginConcurrency: true,
  retryPolicy: true,
  adaptiveConcurrency: true,
} as const satisfies Record<keyof WebhookOptions, true>;
const TIMEOUT_KEYS = {
  connectMs: true,
  headersMs: true,
  totalMs: true,
} as const satisfies Record<keyof NonNullable<WebhookOptions['timeouts']>, true>;

/**
 * A registered function; dispatch calls to it. `I` is what `dispatch` takes, `H`
 * what the handler gets: the same, unless a schema's output differs from its input.
 */
export class DispatchFunction<I, O, H = I> implements RegisteredFunction {
  readonly name: string;
  readonly options: RegisteredFunction['options'];
  readonly handler: Handler<H, O>;
  readonly #dispatch: Dispatch;

  constructor(dispatch: Dispatch, name: string, handler: Handler<H, O>, options: FunctionOptions) {
    this.#dispatch = dispatch;
    this.name = name;
    this.handler = handler;
    this.options = resolveOptions(options);
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
  /** Whether statements on `pool` are named prepared statements (see `DispatchOptions.preparedStatements`). */
  readonly preparedStatements: boolean;
  /**
   * The built-in `webhook` function: `{ url | endpoint, body, headers?, eventType? }`,
   * signed with the Standard Webhooks scheme, retried on the `webhook` policy.
   */
  readonly webhook: DispatchFunction<WebhookInput, WebhookOutput>;
  /** Webhook endpoints: add, list, rotate secrets, disable, enable. */
  readonly endpoints: Endpoints;
  /** Cron schedules: list, set, enable, disable, remove (see also `schedule()`). */
  readonly schedules: Schedules;
  /** @internal For pgdispatch's own operations functions (retryCalls, the CLI); not part of the API. */
  readonly [RUNTIME]: Runtime;
  readonly #webhook: WebhookFunction;
  readonly #ownsPool: boolean;
  readonly #direct: { connectionString?: string; pool?: pg.Pool; maxPoolSize: number };
  readonly #pollOnly: boolean;
  #directRuntime: Runtime | undefined;
  readonly #registry = new FunctionRegistry();
  readonly #dispatcher: Dispatcher;
  readonly #maxInputBytes: number;
  #closed = false;

  constructor(options: DispatchOptions = {}) {
    checkKeys(options, DISPATCH_OPTION_KEYS, 'createDispatch option', 'INVALID_CONFIG');
    if (options.webhook !== undefined) {
      checkKeys(options.webhook, WEBHOOK_OPTION_KEYS, 'webhook option', 'INVALID_CONFIG');
      if (options.webhook.timeouts !== undefined) {
        checkKeys(options.webhook.timeouts, TIMEOUT_KEYS, 'webhook timeout', 'INVALID_CONFIG');
      }
    }
    this.schema = assertSchemaName(options.schema ?? 'pgdispatch');
    const maxInputBytes = options.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES;
    if (!(maxInputBytes > 0)) {
      throw new DispatchError('INVALID_CONFIG', 'maxInputBytes must be a positive number of bytes');
    }
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
      this.pool = this.#newPool(connectionString, options.maxPoolSize ?? 20);
      this.#ownsPool = true;
    }
    const directUrl = options.directConnectionString ?? process.env['DATABASE_DIRECT_URL'];
    this.#direct = {
      ...(directUrl ? { connectionString: directUrl } : {}),
      ...(options.directPool ? { pool: options.directPool } : {}),
      maxPoolSize: options.maxPoolSize ?? 20,
    };
    const hasDirect = options.directPool !== undefined || Boolean(directUrl);
    this.preparedStatements = options.preparedStatements ?? !hasDirect;
    this.#pollOnly = options.pollOnly ?? false;
    this[RUNTIME] = createRuntime(this.pool, this.schema, this.logger, {
      preparedStatements: this.preparedStatements,
      listen: !this.#pollOnly,
    });
    this.#dispatcher = new Dispatcher(
      this[RUNTIME],
      this.#registry,
      maxInputBytes,
      new NotifyLimiter(options.notifyIntervalMs ?? 0, this.#pollOnly),
    );
    this.#maxInputBytes = maxInputBytes;
    this.endpoints = new Endpoints(this.pool, this.schema, this.preparedStatements);
    this.schedules = new Schedules(this.pool, this.schema, this.preparedStatements);
    this.#webhook = new WebhookFunction(
      this.endpoints,
      options.webhook ?? {},
      options.webhook?.adaptiveConcurrency
        ? new AdaptiveConcurrency(this.pool, this.schema, this.preparedStatements)
        : undefined,
    );
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
   *
   * With a Standard Schema as `validate`, the input types come from it:
   * @example
   * const notify = dispatch.func('notify', async (input) => send(input.email), {
   *   validate: z.object({ email: z.email() }),
   * });
   */
  func<S extends StandardSchemaV1, O = unknown>(
    name: string,
    handler: Handler<StandardSchemaV1.InferOutput<S>, O>,
    options: FunctionOptions & { validate: S },
  ): DispatchFunction<StandardSchemaV1.InferInput<S>, O, StandardSchemaV1.InferOutput<S>>;
  func<I = unknown, O = unknown>(
    name: string,
    handler: Handler<I, O>,
    options?: FunctionOptions,
  ): DispatchFunction<I, O>;
  func<I, O>(
    name: string,
    handler: Handler<I, O>,
    options: FunctionOptions = {},
  ): DispatchFunction<I, O> {
    this.#registry.check(name, handler, options);
    const fn = new DispatchFunction(this, name, handler, options);
    this.#registry.add(fn);
    this.#dispatcher.changed();
    return fn;
  }

  /**
   * Registers a workflow: a function whose body is made of steps that
   * survive crashes, sleep, wait for signals and await other calls. See
   * docs/workflows.md.
   *
   * @example
   * const order = dispatch.workflow('order', async (input: { id: number }, ctx) => {
   *   const charge = await ctx.step('charge', () => payments.charge(input.id));
   *   await ctx.sleep('cool-off', 60_000);
   *   return { charge };
   * });
   */
  workflow<I = unknown, O = unknown>(
    name: string,
    handler: WorkflowHandler<I, O>,
    options: WorkflowOptions = {},
  ): DispatchFunction<I, O> {
    const fnOptions: FunctionOptions = {};
    if (options.retryPolicy !== undefined) fnOptions.retryPolicy = options.retryPolicy;
    if (options.validate !== undefined) fnOptions.validate = options.validate;
    this.#registry.check(name, handler, fnOptions);
    const fn = new DispatchFunction<I, O>(this, name, notDirectlyCallable, fnOptions);
    defineWorkflow(fn, name, handler, options);
    this.#registry.add(fn);
    this.#dispatcher.changed();
    return fn;
  }

  /**
   * Sends a signal: the workflow waiting in `ctx.waitFor` on `key` gets
   * `payload`; with none waiting yet, the signal is kept for the first that
   * does. Returns the signal's id. Same as `select pgdispatch.signal(key, payload)`.
   */
  async signal(
    key: string,
    payload?: unknown,
    options: { tx?: Transaction } = {},
  ): Promise<string> {
    if (typeof key !== 'string' || key === '') {
      throw new DispatchError('INVALID_INPUT', 'signal key must be a non-empty string');
    }
    const rt = this[RUNTIME];
    const rows = await runIn<{ id: string }>(rt, options.tx, rt.queries.signal, [
      key,
      serializeInput(payload === undefined ? null : payload, this.#maxInputBytes),
    ]);
    return rows[0]!.id;
  }

  /**
   * Declares a cron schedule: each tick dispatches one call of `function`.
   * Idempotent, so a deploy can declare its schedules at start-up; an edit
   * applies from the next tick, and a schedule an operator disabled stays
   * disabled unless `enabled` is given.
   *
   * @example
   * await dispatch.schedule('nightly-report', {
   *   cron: '0 3 * * *', timezone: 'Europe/Paris', function: 'report', input: { kind: 'daily' },
   * });
   */
  async schedule(name: string, spec: ScheduleSpec): Promise<Schedule> {
    // The database must know this instance's function before a row names it.
    if (this.#registry.get(spec?.function)) {
      await registerFunctions(this[RUNTIME], this.#registry, false);
    }
    return this.schedules.declare(name, spec);
  }

  /** The functions registered on this instance. */
  get functions(): ReadonlyMap<string, RegisteredFunction> {
    return this.#registry.map;
  }

  /** Dispatches a call to a registered function by name; see `DispatchFunction.dispatch`. */
  async dispatch(name: string, input: unknown, options: CallOptions = {}): Promise<string> {
    this.#assertOpen();
    return this.#dispatcher.dispatch(name, input, options);
  }

  /** Dispatches a batch of calls to one function in one statement. */
  dispatchMany(
    name: string,
    inputs: readonly unknown[],
    options: ManyCallOptions = {},
  ): Promise<string[]> {
    this.#assertOpen();
    return this.#dispatcher.dispatchMany(name, inputs, options);
  }

  /** Creates or upgrades the schema (graphile-worker's, then ours); safe to run concurrently. */
  async migrate(): Promise<MigrateResult> {
    const result = await migrate(this.#workerRuntime().pool, this.schema, this.logger);
    if (this.#registry.size > 0) await registerFunctions(this[RUNTIME], this.#registry, false);
    return result;
  }

  /** Cancels a pending, retrying or waiting call (a workflow's open children with it); false when it had already finished. */
  async cancel(
    callId: string | number,
    options: { reason?: string; actor?: string; tx?: Transaction } = {},
  ): Promise<boolean> {
    this.#assertOpen();
    const rt = this[RUNTIME];
    const rows = await runIn<{ cancelled: boolean }>(rt, options.tx, rt.queries.cancelCall, [
      String(callId),
      options.reason === undefined ? null : boundedText(String(options.reason), 2_000),
      boundedText(String(options.actor ?? 'api'), 200),
    ]);
    return rows[0]!.cancelled;
  }

  /** Schedules a failed or cancelled call again, now; false when it is not failed or cancelled. */
  async retry(
    callId: string | number,
    options: { actor?: string; tx?: Transaction } = {},
  ): Promise<boolean> {
    this.#assertOpen();
    const rt = this[RUNTIME];
    const rows = await runIn<{ retried: boolean }>(rt, options.tx, rt.queries.retryCall, [
      String(callId),
      boundedText(String(options.actor ?? 'api'), 200),
    ]);
    return rows[0]!.retried;
  }

  /** Reads one call, or undefined. */
  async getCall(callId: string | number): Promise<Call | undefined> {
    this.#assertOpen();
    const rt = this[RUNTIME];
    const rows = await runIn<Call>(rt, undefined, rt.queries.getCall, [String(callId)]);
    return rows[0];
  }

  /** Reads the attempts of one call, in order. */
  getAttempts(callId: string | number): Promise<Attempt[]> {
    this.#assertOpen();
    const rt = this[RUNTIME];
    return runIn<Attempt>(rt, undefined, rt.queries.getAttempts, [String(callId)]);
  }

  /** The whole story of a call: dispatch, attempts and other status changes, in order. */
  getHistory(callId: string | number): Promise<HistoryEntry[]> {
    this.#assertOpen();
    const rt = this[RUNTIME];
    return runIn<HistoryEntry>(rt, undefined, rt.queries.getHistory, [String(callId)]);
  }

  /**
   * Runs this instance's functions in this process until `stop()`; several
   * workers (processes) on one database share the calls.
   */
  async worker(options: WorkerOptions = {}): Promise<WorkerHandle> {
    this.#assertOpen();
    // Loaded on demand: an application that only dispatches never imports graphile-worker.
    const { startWorker } = await import('./worker/start.js');
    // The HTTP client too, now rather than in the first webhook's attempt.
    await this.#webhook.sender();
    return startWorker(this.#workerRuntime(), this.#registry, options);
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new DispatchError(
        'INVALID_STATE',
        'this dispatch instance is closed (close() was called)',
      );
    }
  }

  /** Ends the pool if this instance created it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#webhook.close();
    const direct = this.#directRuntime?.pool;
    if (direct && direct !== this.pool && direct !== this.#direct.pool) await direct.end();
    if (this.#ownsPool) await this.pool.end();
  }

  /**
   * The runtime on the direct connection (the main one when none is set),
   * with named statements: LISTEN needs a session of its own, and the claim
   * loop's statements stay prepared.
   */
  #workerRuntime(): Runtime {
    if (!this.#directRuntime) {
      const d = this.#direct;
      const pool =
        d.pool ?? (d.connectionString ? this.#newPool(d.connectionString, d.maxPoolSize) : undefined);
      this.#directRuntime = pool
        ? createRuntime(pool, this.schema, this.logger, { listen: !this.#pollOnly })
        : this[RUNTIME];
    }
    return this.#directRuntime;
  }

  #newPool(connectionString: string, max: number): pg.Pool {
    const pool = new pg.Pool({ connectionString, max });
    // An idle client losing its connection (Postgres restarting) must not crash the process.
    pool.on('error', (err) => this.logger.warn({ err }, 'idle database connection lost'));
    pool.on('connect', (client) => {
      client.on('error', (err) => this.logger.warn({ err }, 'database connection lost'));
    });
    return pool;
  }
}

/** Creates the application's dispatch instance. */
export function createDispatch(options: DispatchOptions = {}): Dispatch {
  return new Dispatch(options);
}
