/**
 * The public facade: `createDispatch()` returns the application's instance;
 * `func()` registers a function (a graphile-worker task); `dispatch()`
 * inserts a call inside the caller's transaction. It builds the runtime and
 * the registry that everything below it is given, and delegates.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { DispatchError } from './core/errors.js';
import { assertSchemaName } from './core/ident.js';
import { defaultLogger } from './core/log.js';
import { checkKeys } from './core/option-keys.js';
import { boundedText } from './core/storable.js';
import { DEFAULT_MAX_INPUT_BYTES } from './dispatch/checks.js';
import {
  type CallOptions,
  Dispatcher,
  type ManyCallOptions,
  registerFunctions,
} from './dispatch/dispatch.js';
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

export type { CallOptions, ManyCallOptions } from './dispatch/dispatch.js';
export type { PgQueryable, Transaction } from './dispatch/transaction.js';
export type { CallContext, FunctionOptions, Handler } from './registry/handler.js';
export type { RegisteredFunction } from './registry/registry.js';

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
  /**
   * The built-in `webhook` function: `{ url | endpoint, body, headers?, eventType? }`,
   * signed with the Standard Webhooks scheme, retried on the `webhook` policy.
   */
  readonly webhook: DispatchFunction<WebhookInput, WebhookOutput>;
  /** Webhook endpoints: add, list, rotate secrets, disable, enable. */
  readonly endpoints: Endpoints;
  /** Cron schedules: list, set, enable, disable, remove (see also `schedule()`). */
  readonly schedules: Schedules;
  /** For pgdispatch's own operations functions (retryCalls, the CLI); not part of the API. */
  readonly [RUNTIME]: Runtime;
  readonly #webhook: WebhookFunction;
  readonly #ownsPool: boolean;
  readonly #registry = new FunctionRegistry();
  readonly #dispatcher: Dispatcher;
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
      this.pool = new pg.Pool({ connectionString, max: options.maxPoolSize ?? 20 });
      // An idle client losing its connection (Postgres restarting) must not crash the process.
      this.pool.on('error', (err) => this.logger.warn({ err }, 'idle database connection lost'));
      this.pool.on('connect', (client) => {
        client.on('error', (err) => this.logger.warn({ err }, 'database connection lost'));
      });
      this.#ownsPool = true;
    }
    this[RUNTIME] = createRuntime(this.pool, this.schema, this.logger);
    this.#dispatcher = new Dispatcher(this[RUNTIME], this.#registry, maxInputBytes);
    this.endpoints = new Endpoints(this.pool, this.schema);
    this.schedules = new Schedules(this.pool, this.schema);
    this.#webhook = new WebhookFunction(
      this.endpoints,
      options.webhook ?? {},
      options.webhook?.adaptiveConcurrency
        ? new AdaptiveConcurrency(this.pool, this.schema)
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
   */
  func<I = unknown, O = unknown>(
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
    const result = await migrate(this.pool, this.schema, this.logger);
    if (this.#registry.size > 0) await registerFunctions(this[RUNTIME], this.#registry, false);
    return result;
  }

  /** Cancels a pending or retrying call; false when it had already finished. */
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
    return startWorker(this[RUNTIME], this.#registry, options);
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
    if (this.#ownsPool) await this.pool.end();
  }
}

/** Creates the application's dispatch instance. */
export function createDispatch(options: DispatchOptions = {}): Dispatch {
  return new Dispatch(options);
}
