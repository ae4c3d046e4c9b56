/**
 * Webhook endpoints: named destinations with their own secrets, retry
 * policy, timeouts and health. `dispatch.endpoints` is this API; the CLI's
 * `pgdispatch endpoints` is a shell over it.
 */
import type pg from 'pg';
import { boundedText, strictJson, textProblem } from '../core/storable.js';
import { type Statements, statements } from '../core/statement.js';
import { DispatchError, fromPgError } from '../core/errors.js';
import { generateSecret } from './sign.js';

export interface Endpoint {
  name: string;
  url: string;
  /** Newest first. Read them with care: they sign every request. */
  secrets: string[];
  retry_policy: string;
  headers: Record<string, string>;
  connect_timeout_ms: number | null;
  headers_timeout_ms: number | null;
  total_timeout_ms: number | null;
  max_response_bytes: number | null;
  allow_private_networks: boolean | null;
  /** Most requests in flight across all workers, with adaptive concurrency (null: perOriginConcurrency). */
  max_concurrency?: number | null;
  enabled: boolean;
  disabled_at: Date | null;
  disabled_reason: string | null;
  failing_since: Date | null;
  last_success_at: Date | null;
  last_failure_at: Date | null;
  disable_after: string;
  created_at: Date;
  updated_at: Date;
}

export interface NewEndpoint {
  name: string;
  url: string;
  /** A `whsec_…` secret. (Default: a new random one, returned by `add`) */
  secret?: string;
  /** (Default: `webhook`) */
  retryPolicy?: string;
  headers?: Record<string, string>;
  timeouts?: { connectMs?: number; headersMs?: number; totalMs?: number };
  maxResponseBytes?: number;
  /** Overrides the instance's `allowPrivateNetworks` for this endpoint. */
  allowPrivateNetworks?: boolean;
  /** Disable after failing continuously this long, e.g. '5 days'. (Default: '5 days') */
  disableAfter?: string;
}

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

export class Endpoints {
  readonly #pool: pg.Pool;
  readonly #s: string;
  readonly #q: Statements['q'];

  constructor(pool: pg.Pool, schema: string, prepared = true) {
    this.#pool = pool;
    ({ s: this.#s, q: this.#q } = statements(schema, prepared));
  }

  /** Adds (or replaces the settings of) an endpoint; returns it with its secret. */
  async add(e: NewEndpoint): Promise<Endpoint> {
    if (!NAME.test(e.name)) {
      throw new DispatchError('INVALID_OPTION', `invalid endpoint name ${JSON.stringify(e.name)}`);
    }
    let url: URL;
    try {
      url = new URL(e.url);
    } catch {
      throw new DispatchError('INVALID_OPTION', `invalid endpoint url ${JSON.stringify(e.url)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new DispatchError('INVALID_OPTION', `endpoint url must be http(s): ${e.url}`);
    }
    const secret = e.secret ?? generateSecret();
    const headers = strictJson(e.headers ?? {});
    if ('problem' in headers)
      throw new DispatchError('INVALID_OPTION', `endpoint headers: ${headers.problem}`);
    const bad = textProblem(secret);
    if (bad) throw new DispatchError('INVALID_OPTION', `endpoint secret ${bad}`);
    const policy = e.retryPolicy ?? 'webhook';
    const rows = await this.#query<Endpoint>(
      'endpoint_add',
      `insert into ${this.#s}.endpoints as e (name, url, secrets, retry_policy, headers,
         connect_timeout_ms, headers_timeout_ms, total_timeout_ms, max_response_bytes,
         allow_private_networks, disable_after)
       values ($1, $2, array[$3], $4, $5::jsonb, $6, $7, $8, $9, $10, coalesce($11::interval, '5 days'))
       on conflict (name) do update set
         url = excluded.url, retry_policy = excluded.retry_policy, headers = excluded.headers,
         connect_timeout_ms = excluded.connect_timeout_ms,
         headers_timeout_ms = excluded.headers_timeout_ms,
         total_timeout_ms = excluded.total_timeout_ms,
         max_response_bytes = excluded.max_response_bytes,
         allow_private_networks = excluded.allow_private_networks,
         disable_after = excluded.disable_after, updated_at = now()
       returning *`,
      [
        e.name,
        url.toString(),
        secret,
        policy,
        headers.json,
        e.timeouts?.connectMs ?? null,
        e.timeouts?.headersMs ?? null,
        e.timeouts?.totalMs ?? null,
        e.maxResponseBytes ?? null,
        e.allowPrivateNetworks ?? null,
        e.disableAfter ?? null,
      ],
    ).catch((err: unknown) => {
      // The foreign key to retry_policies says it; say it with our own code.
      if ((err as { code?: unknown }).code === '23503') {
        throw new DispatchError(
          'UNKNOWN_RETRY_POLICY',
          `unknown retry policy ${JSON.stringify(policy)}`,
        );
      }
      throw err;
    });
    return rows[0]!;
  }

  async get(name: string): Promise<Endpoint | undefined> {
    const rows = await this.#query<Endpoint>(
      'endpoint_get',
      `select * from ${this.#s}.endpoint_for_delivery($1)`,
      [name],
    );
    return rows[0];
  }

  list(): Promise<Endpoint[]> {
    return this.#query<Endpoint>(
      'endpoint_list',
      `select * from ${this.#s}.endpoints order by name`,
      [],
    );
  }

  /**
   * Starts a secret rotation: the new secret signs first, the previous one
   * keeps signing too until `dropPreviousSecrets`. Returns the new secret.
   */
  async rotateSecret(name: string, secret: string = generateSecret()): Promise<string> {
    const rows = await this.#query<{ name: string }>(
      'endpoint_rotate',
      `update ${this.#s}.endpoints set secrets = array[$2, secrets[1]], updated_at = now()
        where name = $1 returning name`,
      [name, secret],
    );
    this.#found(name, rows);
    return secret;
  }

  /** Ends a rotation: only the newest secret signs from now on. */
  async dropPreviousSecrets(name: string): Promise<void> {
    const rows = await this.#query<{ name: string }>(
      'endpoint_drop_secrets',
      `update ${this.#s}.endpoints set secrets = secrets[1:1], updated_at = now()
        where name = $1 returning name`,
      [name],
    );
    this.#found(name, rows);
  }

  /** Disables an endpoint: its calls fail fast until it is enabled again. */
  async disable(name: string, reason = 'disabled by an operator'): Promise<void> {
    const rows = await this.#query<{ name: string }>(
      'endpoint_disable',
      `update ${this.#s}.endpoints
          set enabled = false, disabled_at = coalesce(disabled_at, now()),
              disabled_reason = $2, updated_at = now()
        where name = $1 returning name`,
      [name, boundedText(String(reason), 2_000)],
    );
    this.#found(name, rows);
  }

  /** Enables an endpoint; with `replay`, its calls that failed since it was disabled run again. Returns how many. */
  async enable(name: string, options: { replay?: boolean; actor?: string } = {}): Promise<number> {
    const rows = await this.#query<{ replayed: number }>(
      'endpoint_enable',
      `select ${this.#s}.enable_endpoint($1, $2, $3) as replayed`,
      [name, options.replay ?? false, boundedText(String(options.actor ?? 'api'), 200)],
    );
    return rows[0]!.replayed;
  }

  /**
   * Health bookkeeping after a delivery to `name`. Returns the reason when
   * this failure disabled the endpoint (410 Gone, or failing past disable_after).
   */
  async attempted(name: string, ok: boolean, gone: boolean): Promise<string | null> {
    const rows = await this.#query<{ disabled: string | null }>(
      'endpoint_attempted',
      `select ${this.#s}.endpoint_attempted($1, $2, $3) as disabled`,
      [name, ok, gone],
    );
    return rows[0]?.disabled ?? null;
  }

  async remove(name: string): Promise<boolean> {
    const rows = await this.#query<{ name: string }>(
      'endpoint_remove',
      `delete from ${this.#s}.endpoints where name = $1 returning name`,
      [name],
    );
    return rows.length > 0;
  }

  #found(name: string, rows: unknown[]): void {
    if (rows.length === 0) {
      throw new DispatchError('UNKNOWN_ENDPOINT', `unknown endpoint ${JSON.stringify(name)}`);
    }
  }

  async #query<R>(name: string, text: string, values: unknown[]): Promise<R[]> {
    try {
      return (await this.#pool.query({ ...this.#q(name, text), values })).rows as R[];
    } catch (err) {
      throw fromPgError(err);
    }
  }
}
