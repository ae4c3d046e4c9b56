/**
 * Sends one webhook attempt with undici and turns whatever happens into a
 * SendResult: it never throws for a delivery failure. Connections are pooled
 * per origin (keep-alive), every address is checked by the AddressGuard at
 * connect time, redirects are not followed, and at most `maxResponseBytes`
 * of the response are read.
 */
import { Agent, errors, request } from 'undici';
import { AbortEmitter, type AbortSource, onAbort } from '../core/abort.js';
import { type AttemptStatus, classifyError, errorMessage, statusFromHttp } from '../core/outcome.js';
import { AddressGuard, type AddressGuardOptions } from './address-guard.js';
import { OriginLimiter } from './origin-limiter.js';
import { type BoundedBody, readBounded } from './read-body.js';
import { parseRetryAfter } from './retry-after.js';

export interface SendTimeouts {
  /** TCP (and TLS) connection establishment. (Default: 5000) */
  connectMs: number;
  /** From the start of the attempt (connecting included) to the end of the response headers. (Default: 15000) */
  headersMs: number;
  /** The whole attempt, body included. (Default: 30000) */
  totalMs: number;
}

export interface WebhookSenderOptions {
  timeouts?: Partial<SendTimeouts>;
  /** Response body bytes kept; the rest is never read. (Default: 16384) */
  maxResponseBytes?: number;
  /** Requests in flight per origin; more wait for a slot. (Default: 10) */
  perOriginConcurrency?: number;
  /** Which addresses may be reached. (Default: public addresses only) */
  guard?: AddressGuardOptions | AddressGuard;
}

export interface SendRequest {
  url: string | URL;
  /** (Default: 'POST') */
  method?: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Aborts the attempt (outcome `timeout`), e.g. on worker shutdown. */
  signal?: AbortSource;
  timeouts?: Partial<SendTimeouts>;
  maxResponseBytes?: number;
  /** Replaces the sender's guard for this request (an endpoint's own settings). */
  guard?: AddressGuardOptions | AddressGuard;
}

export interface SendResponse {
  status: number;
  /** A safe subset of the response headers (no cookies). */
  headers: Record<string, string>;
  /** UTF-8, at most maxResponseBytes. */
  body: string;
  truncated: boolean;
}

export interface SendResult {
  status: AttemptStatus;
  httpStatus?: number;
  /** Time from the first byte sent (after any wait for an origin slot) to the end. */
  durationMs: number;
  /** Time spent waiting for a free slot of the origin. */
  queuedMs?: number;
  error?: string;
  /** Delay asked by a 429 or 503 Retry-After header. */
  retryAfterMs?: number;
  response?: SendResponse;
}

const DEFAULT_TIMEOUTS: SendTimeouts = { connectMs: 5000, headersMs: 15000, totalMs: 30000 };
const DEFAULT_MAX_RESPONSE_BYTES = 16384;
const DEFAULT_PER_ORIGIN = 10;
const KEPT_HEADERS = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'retry-after',
  'location',
  'date',
  'server',
  'x-request-id',
  'request-id',
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
]);
const MAX_HEADER_VALUE = 1024;
// Response headers past this size make the response invalid (Node's own
// limit for requests); up to READ_HEADER_BYTES are read so the attempt keeps
// a record of it, beyond that undici stops parsing.
export const MAX_RESPONSE_HEADER_BYTES = 16_384;
const READ_HEADER_BYTES = 262_144;
// Errors that mean the request itself is wrong: no later attempt will fix it.
const INVALID_ARGUMENT_CODES = new Set([
  'ADDRESS_REFUSED',
  'URL_REFUSED',
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'ERR_INVALID_URL',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_CHAR',
]);

export class SenderClosedError extends Error {
  readonly code = 'SENDER_CLOSED';
  constructor() {
    super('WebhookSender is closed');
    this.name = 'SenderClosedError';
  }
}

export class WebhookSender {
  readonly #timeouts: SendTimeouts;
  readonly #maxResponseBytes: number;
  readonly #perOrigin: number;
  readonly #guard: AddressGuard;
  readonly #limiter: OriginLimiter;
  readonly #agents = new Map<string, Agent>();
  #closed = false;

  constructor(options: WebhookSenderOptions = {}) {
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#perOrigin = options.perOriginConcurrency ?? DEFAULT_PER_ORIGIN;
    this.#guard = toGuard(options.guard);
    this.#limiter = new OriginLimiter(this.#perOrigin);
  }

  /** Whether every slot of `origin` is taken, so a send to it would queue. */
  saturated(origin: string): boolean {
    return this.#limiter.saturated(origin);
  }

  /** How long a send to a saturated `origin` should wait before it is tried again, in ms. */
  comeBackIn(origin: string, minMs: number): number {
    return this.#limiter.comeBackIn(origin, minMs);
  }

  /** Whether a send to a saturated `origin` can wait for a slot: they free up within `maxWaitMs`. */
  worthWaiting(origin: string, maxWaitMs: number): boolean {
    return this.#limiter.worthWaiting(origin, maxWaitMs);
  }

  /**
   * Sends one attempt and reports its outcome.
   *
   * @example
   * const result = await sender.send({ url, body, headers: { 'content-type': 'application/json' } });
   * if (result.status !== 'ok') console.log(result.status, result.error);
   */
  async send(req: SendRequest): Promise<SendResult> {
    if (this.#closed) throw new SenderClosedError();
    const timeouts = req.timeouts ? { ...this.#timeouts, ...req.timeouts } : this.#timeouts;
    const guard = req.guard ? toGuard(req.guard) : this.#guard;
    let url: URL;
    try {
      url = guard.checkUrl(req.url);
    } catch (err) {
      return failure(err, 0);
    }

    const queuedAt = performance.now();
    let release = this.#limiter.tryAcquire(url.origin);
    if (!release) {
      try {
        release = await this.#limiter.acquire(url.origin, req.signal);
      } catch (err) {
        return aborted(err, 'aborted while waiting for a slot');
      }
    }
    const startedAt = performance.now();
    const queuedMs = Math.round(startedAt - queuedAt);
    try {
      const result = await this.#attempt(url, req, guard, timeouts);
      result.durationMs = Math.round(performance.now() - startedAt);
      if (queuedMs > 0) result.queuedMs = queuedMs;
      return result;
    } finally {
      release();
    }
  }

  async #attempt(
    url: URL,
    req: SendRequest,
    guard: AddressGuard,
    timeouts: SendTimeouts,
  ): Promise<SendResult> {
    // One abort handle and one timer per attempt, for the headers deadline
    // (undici's own headersTimeout ticks at about one-second resolution; this
    // keeps a short headersMs exact, connecting included), then the total
    // deadline, and the caller's signal. AbortSignal.timeout, AbortSignal.any
    // or even one AbortController cost more per attempt than the rest of the
    // sender: undici takes an EventEmitter as its signal too.
    const abort = new AbortEmitter();
    const startedAt = performance.now();
    let totalExpired = false;
    const expireTotal = () => {
      totalExpired = true;
      abort.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    };
    let timer =
      timeouts.headersMs < timeouts.totalMs
        ? setTimeout(() => {
            abort.abort(
              new errors.HeadersTimeoutError(`no response headers within ${timeouts.headersMs} ms`),
            );
          }, timeouts.headersMs)
        : setTimeout(expireTotal, timeouts.totalMs);
    const caller = req.signal;
    let stopListening: (() => void) | undefined;
    if (caller?.aborted) abort.abort(caller.reason);
    else if (caller) stopListening = onAbort(caller, () => abort.abort(caller.reason));
    const maxBytes = req.maxResponseBytes ?? this.#maxResponseBytes;
    try {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, {
          dispatcher: this.#agent(guard, timeouts.connectMs),
          method: req.method ?? 'POST',
          headers: { 'user-agent': 'pgdispatch', ...req.headers },
          body: req.body,
          signal: abort,
          // The deadlines above bound headers and body; undici's own timers,
          // one more pair per request, would only duplicate them.
          headersTimeout: 0,
          bodyTimeout: 0,
        });
      } catch (err) {
        if (caller?.aborted) return aborted(err, 'aborted by the caller');
        return failure(
          err,
          0,
          totalExpired ? `no response within ${timeouts.totalMs} ms` : undefined,
        );
      }
      clearTimeout(timer);
      timer = setTimeout(
        expireTotal,
        Math.max(0, timeouts.totalMs - (performance.now() - startedAt)),
      );
      return this.#result(res, await readBounded(res.body, maxBytes));
    } finally {
      clearTimeout(timer);
      stopListening?.();
    }
  }

  #result(res: Awaited<ReturnType<typeof request>>, body: BoundedBody): SendResult {
    const { kept, bytes } = keptHeaders(res.headers);
    const result: SendResult = {
      status: statusFromHttp(res.statusCode),
      httpStatus: res.statusCode,
      durationMs: 0,
      response: {
        status: res.statusCode,
        headers: kept,
        body: body.text,
        truncated: body.truncated,
      },
    };
    if (bytes > MAX_RESPONSE_HEADER_BYTES) {
      result.status = 'invalid_response';
      result.response!.truncated = true;
      result.error = `response headers of ${bytes} bytes, over the limit of ${MAX_RESPONSE_HEADER_BYTES}`;
      return result;
    }
    // The status line decides the outcome; a body cut short only loses detail.
    if (body.error !== undefined) result.error = `response body: ${errorMessage(body.error)}`;
    if (result.status !== 'ok' && result.error === undefined)
      result.error = `HTTP ${res.statusCode}`;
    if (res.statusCode === 429 || res.statusCode === 503) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
    }
    return result;
  }

  #agent(guard: AddressGuard, connectMs: number): Agent {
    // A call that waited for a slot while close() ran must not open a new pool.
    if (this.#closed) throw new SenderClosedError();
    const key = `${guard.key}|${connectMs}`;
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new Agent({
        connections: this.#perOrigin,
        connect: { timeout: connectMs, lookup: guard.lookup },
        maxHeaderSize: READ_HEADER_BYTES,
        keepAliveTimeout: 4000,
      });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** Closes the pooled connections, after the requests in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((a) => a.close()));
  }
}

function toGuard(guard: AddressGuardOptions | AddressGuard | undefined): AddressGuard {
  return guard instanceof AddressGuard ? guard : new AddressGuard(guard);
}

function failure(err: unknown, durationMs: number, detail?: string): SendResult {
  const message = detail ? `${detail}: ${errorMessage(err)}` : errorMessage(err);
  return { status: classifySendError(err), durationMs, error: message };
}

// Whatever the abort reason was, the attempt did not finish in the time it was given.
function aborted(err: unknown, detail: string): SendResult {
  return { status: 'timeout', durationMs: 0, error: `${detail}: ${errorMessage(err)}` };
}

/** Outcome of an error raised before any response arrived. */
export function classifySendError(err: unknown): AttemptStatus {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && INVALID_ARGUMENT_CODES.has(code)) return 'invalid_argument';
    if (code === 'UND_ERR_HEADERS_OVERFLOW') return 'invalid_response';
    // undici's parser errors often carry no code: a peer that does not speak HTTP/1.1.
    if (e instanceof errors.HTTPParserError) return 'invalid_response';
    // Aborted with no reason given (a reasonless abort of the caller's signal).
    if (e instanceof errors.RequestAbortedError) return 'timeout';
    e = e instanceof Error ? e.cause : undefined;
  }
  // Nothing was sent: the attempt can be made again by another sender.
  if (err instanceof SenderClosedError) return 'temporary_error';
  return classifyError(err).status;
}

/** The headers worth keeping, each cut to MAX_HEADER_VALUE, and the size of them all. */
function keptHeaders(headers: Record<string, string | string[] | undefined>): {
  kept: Record<string, string>;
  bytes: number;
} {
  const kept: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    // Name, ": ", value, CRLF: as on the wire (latin1, one byte a character).
    bytes += name.length + text.length + 4;
    const key = name.toLowerCase();
    if (!KEPT_HEADERS.has(key)) continue;
    kept[key] = text.length > MAX_HEADER_VALUE ? text.slice(0, MAX_HEADER_VALUE) : text;
  }
  return { kept, bytes };
}
