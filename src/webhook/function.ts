/**
 * The built-in `webhook` function: resolves the destination (a plain URL or
 * an endpoint row), signs with the Standard Webhooks scheme, sends through
 * the guarded undici sender and turns the result into an attempt outcome.
 */
import { reportHttpRequest } from '../core/tracing.js';
import { abortSourceOf } from '../core/abort.js';
import type { CallContext, Handler } from '../registry/handler.js';
import { DispatchError } from '../core/errors.js';
import { redactForDisplay } from '../core/redact.js';
import { OutcomeError, SnoozeError } from '../core/outcome.js';
import type { AdaptiveConcurrency } from './adaptive.js';
import { AddressGuard, type AddressGuardOptions } from './address-guard.js';
import type { Endpoint, Endpoints } from './endpoints.js';
import type { SendRequest, SendTimeouts, WebhookSender } from './send.js';
import { signature } from './sign.js';

/** Options of the built-in `webhook` function, on `createDispatch({ webhook })`. */
export interface WebhookOptions {
  /** Signs calls addressed by plain `url` (`whsec_…`); several while rotating. (Default: none: such calls go unsigned) */
  secret?: string | string[];
  /** Allow loopback and private addresses (development only). (Default: false) */
  allowPrivateNetworks?: boolean;
  /** CIDRs, IPs or hostnames always allowed, e.g. ['10.1.2.0/24', 'hooks.internal']. (Default: []) */
  allow?: string[];
  /** Refuse http:// URLs. (Default: false) */
  httpsOnly?: boolean;
  /** (Default: connect 5000, headers 15000, total 30000 ms) */
  timeouts?: Partial<SendTimeouts>;
  /** Response body bytes kept in the attempt row. (Default: 16384) */
  maxResponseBytes?: number;
  /** Requests in flight per origin in each worker; more go back to the queue until their turn (a few wait for a quick origin). (Default: 10) */
  perOriginConcurrency?: number;
  /** Retry policy of calls addressed by url. (Default: `webhook`) */
  retryPolicy?: string;
  /**
   * Adapt each origin's concurrency to its answers, shared by all workers
   * through Postgres: up while it answers well, halved on 429, 503, timeouts
   * and connection errors, at most perOriginConcurrency (or an endpoint's
   * max_concurrency) across all workers. (Default: false: each worker's
   * static perOriginConcurrency)
   */
  adaptiveConcurrency?: boolean;
}

/** Input of the `webhook` function. */
export interface WebhookInput {
  /** Destination URL; or `endpoint`. */
  url?: string;
  /** Name of a row of `endpoints`; or `url`. */
  endpoint?: string;
  /** Sent as JSON, or as is when a string. */
  body: unknown;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** With a type, the body is wrapped as `{ "type": eventType, "data": body }` (Standard Webhooks payload). */
  eventType?: string;
}

/** What a delivered webhook's call keeps as output. */
export interface WebhookOutput {
  httpStatus: number;
  durationMs: number;
}

/** Validates an input at dispatch time, so a malformed call is refused before it exists. */
export function validateWebhookInput(input: unknown): void {
  const problem = checkWebhookInput(input as Partial<WebhookInput> | null, originOf);
  if (problem !== undefined) throw new DispatchError('INVALID_INPUT', `webhook: ${problem}`);
}

/** What is wrong with an input, or undefined; `origin` parses its url (origin, or what is wrong). */
function checkWebhookInput(
  i: Partial<WebhookInput> | null,
  origin: (url: string) => { origin: string } | string,
): string | undefined {
  if (!i || typeof i !== 'object')
    return 'input must be an object { url | endpoint, body, headers? }';
  if ((i.url === undefined) === (i.endpoint === undefined))
    return 'give exactly one of url and endpoint';
  if (i.url !== undefined) {
    if (typeof i.url !== 'string') return 'url must be a string';
    const parsed = origin(i.url);
    if (typeof parsed === 'string') return parsed;
  }
  if (i.endpoint !== undefined && typeof i.endpoint !== 'string') return 'endpoint must be a name';
  if (i.headers !== undefined) {
    if (!i.headers || typeof i.headers !== 'object') return 'headers must be an object of strings';
    for (const v of Object.values(i.headers))
      if (typeof v !== 'string') return 'header values must be strings';
  }
  if (i.eventType !== undefined && typeof i.eventType !== 'string')
    return 'eventType must be a string';
  return undefined;
}

/** The origin of an http(s) URL, or what is wrong with it. */
function originOf(text: string): { origin: string } | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `invalid url ${JSON.stringify(text)}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `url must be http(s): ${text}`;
  return { origin: url.origin };
}

const ENDPOINT_CACHE_MS = 2_000;
// How long a saturated origin's call waits in the queue before another try.
const SNOOZE_MS = 250;
// How often a worker reports failures of an endpoint that is already failing.
const FAILURE_REPORT_MS = 1_000;
// URLs whose origin a worker remembers: deliveries go to few, parsed once each.
const MAX_KNOWN_URLS = 1_000;

/** The handler of the `webhook` function, with its sender and endpoint cache. */
export class WebhookFunction {
  readonly options: WebhookOptions;
  readonly #endpoints: Endpoints;
  #sender: WebhookSender | undefined;
  readonly #cache = new Map<string, { row: Endpoint | undefined; at: number }>();
  readonly #guards = new Map<boolean, AddressGuard>();
  readonly #secrets: string[];
  /** Per endpoint row (re-read every ENDPOINT_CACHE_MS): its timeouts, guard and limit. */
  readonly #settings = new WeakMap<Endpoint, EndpointSettings>();
  /** When this worker last reported a failure of each endpoint already failing. */
  readonly #failureReportedAt = new Map<string, number>();
  /** The parsed origin of each url delivered to. */
  readonly #origins = new Map<string, { origin: string }>();
  readonly #originOf = (text: string): { origin: string } | string => {
    const known = this.#origins.get(text);
    if (known) return known;
    const parsed = originOf(text);
    if (typeof parsed !== 'string') {
      if (this.#origins.size >= MAX_KNOWN_URLS) this.#origins.clear();
      this.#origins.set(text, parsed);
    }
    return parsed;
  };

  readonly #adaptive: AdaptiveConcurrency | undefined;

  constructor(endpoints: Endpoints, options: WebhookOptions, adaptive?: AdaptiveConcurrency) {
    this.#endpoints = endpoints;
    this.options = options;
    this.#secrets = toList(options.secret);
    this.#adaptive = options.adaptiveConcurrency ? adaptive : undefined;
  }

  /** The sender, created (and undici loaded) at the first delivery. */
  async sender(): Promise<WebhookSender> {
    if (this.#sender) return this.#sender;
    const { WebhookSender } = await import('./send.js');
    this.#sender ??= new WebhookSender({
      timeouts: this.options.timeouts ?? {},
      maxResponseBytes: this.options.maxResponseBytes ?? 16_384,
      perOriginConcurrency: this.options.perOriginConcurrency ?? 10,
      guard: this.#guardOptions(),
    });
    return this.#sender;
  }

  readonly handler: Handler<WebhookInput, WebhookOutput> = async (input, ctx) => {
    const problem = checkWebhookInput(input, this.#originOf);
    if (problem !== undefined) throw new OutcomeError('invalid_argument', `webhook: ${problem}`);
    const endpoint =
      input.endpoint === undefined ? undefined : await this.#endpoint(input.endpoint);
    if (input.endpoint !== undefined && !endpoint) {
      throw new OutcomeError(
        'invalid_argument',
        `webhook: unknown endpoint ${JSON.stringify(input.endpoint)}`,
      );
    }
    if (endpoint && !endpoint.enabled) {
      throw new OutcomeError(
        'permanent_error',
        `endpoint ${endpoint.name} is disabled: ${endpoint.disabled_reason ?? 'no reason given'}`,
      );
    }
    const url = endpoint ? endpoint.url : (input.url as string);
    const parsed = this.#originOf(url);
    if (typeof parsed === 'string') {
      throw new OutcomeError(
        'invalid_argument',
        `webhook: invalid url of endpoint ${endpoint?.name}`,
      );
    }
    const sender = this.#sender ?? (await this.sender());
    const { origin } = parsed;
    // A saturated origin's call waits here only if a slot should free up
    // sooner than it would come back from the queue, and only a few do:
    // otherwise it goes back to the queue, not holding a worker slot.
    if (sender.saturated(origin) && !sender.worthWaiting(origin, SNOOZE_MS)) {
      throw new SnoozeError(
        sender.comeBackIn(origin, SNOOZE_MS),
        `origin ${origin} is at its concurrency limit`,
      );
    }

    const max = endpoint?.max_concurrency ?? this.options.perOriginConcurrency ?? 10;
    const adaptiveSlot = this.#adaptive?.tryAcquire(origin, max);
    if (this.#adaptive && !adaptiveSlot) {
      throw new SnoozeError(
        SNOOZE_MS / 2 + Math.random() * SNOOZE_MS,
        `origin ${origin} is at its adaptive concurrency limit`,
      );
    }


    const payload =
      input.eventType === undefined ? input.body : { type: input.eventType, data: input.body };
    const text = typeof payload === 'string';
    const body = text ? payload : JSON.stringify(payload ?? null);
    const headers: Record<string, string> = {
      'content-type': text ? 'text/plain; charset=utf-8' : 'application/json',
    };
    if (endpoint) Object.assign(headers, endpoint.headers);
    if (input.headers) Object.assign(headers, input.headers);
    // The id is the call's: stable across retries, so receivers can deduplicate.
    const id = `msg_${ctx.callId}`;
    headers['webhook-id'] = id;
    const secrets = endpoint ? endpoint.secrets : this.#secrets;
    if (secrets.length > 0) {
      const seconds = Math.floor(Date.now() / 1000);
      headers['webhook-timestamp'] = String(seconds);
      headers['webhook-signature'] = signature(secrets, id, seconds, body);
    }

    const request: SendRequest = { url, body, headers, signal: abortSourceOf(ctx) };
    if (endpoint) {
      const own = this.#endpointSettings(endpoint);
      request.timeouts = own.timeouts;
      if (own.maxResponseBytes !== undefined) request.maxResponseBytes = own.maxResponseBytes;
      if (own.guard) request.guard = own.guard;
    }
    reportHttpRequest(ctx, { method: 'POST', url });
    let result: Awaited<ReturnType<WebhookSender['send']>>;
    try {
      result = await sender.send(request);
    } catch (err) {
      adaptiveSlot?.('permanent_error', undefined);
      throw err;
    }
    adaptiveSlot?.(result.status, result.httpStatus);
    // The attempt keeps the headers it sent (signature included), secrets redacted.
    const sent = { headers: redactForDisplay(headers) };
    if (result.response)
      ctx.report({
        httpStatus: result.response.status,
        response: { ...result.response, request: sent },
      });
    else
      ctx.report({
        ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
        response: { request: sent },
      });
    if (endpoint)
      await this.#health(endpoint, result.status === 'ok', result.httpStatus === 410, ctx);
    if (result.status === 'ok') {
      return { httpStatus: result.httpStatus ?? 0, durationMs: result.durationMs };
    }
    throw new OutcomeError(result.status, result.error ?? `HTTP ${result.httpStatus}`, {
      ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
      ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
    });
  };

  async close(): Promise<void> {
    await this.#adaptive?.close();
    await this.#sender?.close();
    this.#sender = undefined;
  }

  #guardOptions(
    allowPrivateNetworks = this.options.allowPrivateNetworks ?? false,
  ): AddressGuardOptions {
    return {
      allowPrivateNetworks,
      allow: this.options.allow ?? [],
      httpsOnly: this.options.httpsOnly ?? false,
    };
  }

  #endpointSettings(e: Endpoint): EndpointSettings {
    let own = this.#settings.get(e);
    if (!own) {
      own = {
        // Frozen: the sender merges it with its own timeouts once.
        timeouts: Object.freeze(endpointTimeouts(e)),
        maxResponseBytes: e.max_response_bytes ?? undefined,
        guard: e.allow_private_networks == null ? undefined : this.#guard(e.allow_private_networks),
      };
      this.#settings.set(e, own);
    }
    return own;
  }

  /** The guard of endpoints that set allow_private_networks, one per value. */
  #guard(allowPrivateNetworks: boolean): AddressGuard {
    let guard = this.#guards.get(allowPrivateNetworks);
    if (!guard) {
      guard = new AddressGuard(this.#guardOptions(allowPrivateNetworks));
      this.#guards.set(allowPrivateNetworks, guard);
    }
    return guard;
  }

  async #endpoint(name: string): Promise<Endpoint | undefined> {
    const cached = this.#cache.get(name);
    // A disabled endpoint is always read again: it may just have been enabled.
    if (cached?.row?.enabled && Date.now() - cached.at < ENDPOINT_CACHE_MS) return cached.row;
    const row = await this.#endpoints.get(name);
    this.#cache.set(name, { row, at: Date.now() });
    return row;
  }

  /** Health bookkeeping; writes only on a change of state (see endpoint_attempted). */
  async #health(e: Endpoint, ok: boolean, gone: boolean, ctx: CallContext): Promise<void> {
    const now = Date.now();
    const stale = !e.last_success_at || now - new Date(e.last_success_at).getTime() > 60_000;
    if (ok && e.failing_since === null && !stale) return;
    if (!ok && !gone && e.failing_since !== null) {
      // Already failing: another failure only matters once disable_after has
      // passed, and each report locks the endpoint's row, which every worker
      // delivering to it would queue on during an outage. Once a second is
      // soon enough to notice.
      if (now - (this.#failureReportedAt.get(e.name) ?? 0) < FAILURE_REPORT_MS) return;
      this.#failureReportedAt.set(e.name, now);
    }
    try {
      const disabled = await this.#endpoints.attempted(e.name, ok, gone);
      this.#cache.delete(e.name);
      if (disabled)
        ctx.logger.error(
          { endpoint: e.name, reason: disabled },
          `endpoint ${e.name} disabled: ${disabled}`,
        );
    } catch (err) {
      // Health is bookkeeping: never let it fail the delivery's outcome.
      ctx.logger.warn(
        { err: (err as Error).message, endpoint: e.name },
        'could not update endpoint health',
      );
    }
  }
}

function toList(secret: string | string[] | undefined): string[] {
  if (secret === undefined) return [];
  return Array.isArray(secret) ? secret : [secret];
}

/** What an endpoint row sets for its deliveries, worked out once per row read. */
interface EndpointSettings {
  timeouts: Partial<SendTimeouts>;
  maxResponseBytes: number | undefined;
  guard: AddressGuard | undefined;
}

function endpointTimeouts(e: Endpoint): Partial<SendTimeouts> {
  const t: Partial<SendTimeouts> = {};
  if (e.connect_timeout_ms != null) t.connectMs = e.connect_timeout_ms;
  if (e.headers_timeout_ms != null) t.headersMs = e.headers_timeout_ms;
  if (e.total_timeout_ms != null) t.totalMs = e.total_timeout_ms;
  return t;
}
