/**
 * One attempt's exchange with the receiver, as an undici dispatch handler,
 * and how its result is classified: the response kept (bounded), the
 * outcome of an error raised before any response arrived.
 */
import { type Dispatcher, errors } from 'undici';
import { type AbortSource, onAbort } from '../core/abort.js';
import { type AttemptStatus, classifyError, errorMessage, statusFromHttp } from '../core/outcome.js';
import { trimPartialUtf8 } from './read-body.js';
import { parseRetryAfter } from './retry-after.js';

export interface SendTimeouts {
  /** TCP (and TLS) connection establishment. (Default: 5000) */
  connectMs: number;
  /** From the start of the attempt (connecting included) to the end of the response headers. (Default: 15000) */
  headersMs: number;
  /** The whole attempt, body included. (Default: 30000) */
  totalMs: number;
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
// limit for requests); the sender reads more of them, so the attempt keeps a
// record of such a response.
export const MAX_RESPONSE_HEADER_BYTES = 16_384;
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

export function failure(err: unknown, durationMs: number, detail?: string): SendResult {
  const message = detail ? `${detail}: ${errorMessage(err)}` : errorMessage(err);
  return { status: classifySendError(err), durationMs, error: message };
}

// Whatever the abort reason was, the attempt did not finish in the time it was given.
export function aborted(err: unknown, detail: string): SendResult {
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

/**
 * One attempt as an undici dispatch handler: it keeps at most `maxBytes` of
 * the body as it arrives and resolves `result` once. A Readable body, the
 * request API's async resource and an abort signal per attempt cost more
 * than the rest of the sender. One timer holds the deadline: the headers'
 * (connecting included, exact where undici's own ticks about once a second),
 * then, re-armed only if it fires after the headers came, the total's.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly result: Promise<SendResult>;
  #resolve!: (result: SendResult) => void;
  readonly #timeouts: SendTimeouts;
  readonly #maxBytes: number;
  readonly #caller: AbortSource | undefined;
  readonly #stopListening: (() => void) | undefined;
  readonly #startedAt = performance.now();
  #timer: NodeJS.Timeout;
  #headersDeadline: boolean;
  #totalExpired = false;
  #controller: Dispatcher.DispatchController | undefined;
  /** Why the attempt was aborted before undici started the request. */
  #abortReason: Error | undefined;
  #statusCode = 0;
  #headers: Record<string, string | string[] | undefined> | undefined;
  #chunks: Buffer[] = [];
  #size = 0;
  #done = false;

  constructor(timeouts: SendTimeouts, maxBytes: number, caller: AbortSource | undefined) {
    this.result = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    this.#timeouts = timeouts;
    this.#maxBytes = maxBytes;
    this.#caller = caller;
    this.#headersDeadline = timeouts.headersMs < timeouts.totalMs;
    this.#timer = setTimeout(
      onDeadline,
      this.#headersDeadline ? timeouts.headersMs : timeouts.totalMs,
      this,
    );
    this.#stopListening = caller
      ? onAbort(caller, () => this.abort(toError(caller.reason)))
      : undefined;
  }

  /** The timer fired: the headers' deadline, or the total one. */
  deadline(): void {
    if (this.#done) return;
    if (this.#headersDeadline) {
      this.#headersDeadline = false;
      if (this.#headers === undefined) {
        const ms = this.#timeouts.headersMs;
        this.abort(new errors.HeadersTimeoutError(`no response headers within ${ms} ms`));
        return;
      }
      const left = this.#timeouts.totalMs - (performance.now() - this.#startedAt);
      if (left > 0) {
        this.#timer = setTimeout(onDeadline, Math.ceil(left), this);
        return;
      }
    }
    this.#totalExpired = true;
    this.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  }

  abort(reason: Error): void {
    if (this.#done) return;
    if (this.#controller) this.#controller.abort(reason);
    else this.#abortReason ??= reason;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#abortReason) controller.abort(this.#abortReason);
    else this.#controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx informational responses come before the real one.
    if (statusCode < 200) return;
    this.#statusCode = statusCode;
    this.#headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return;
    const room = this.#maxBytes - this.#size;
    if (chunk.length > room) {
      this.#chunks.push(chunk.subarray(0, room));
      this.#size = this.#maxBytes;
      this.#finish(true);
      // The rest is never read: the connection goes, not the time to drain it.
      controller.abort(new errors.RequestAbortedError());
      return;
    }
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  onResponseEnd(): void {
    this.#finish(false);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#done) return;
    if (this.#headers !== undefined) {
      this.#finish(true, err);
      return;
    }
    this.#settle(
      this.#caller?.aborted
        ? aborted(err, 'aborted by the caller')
        : failure(
            err,
            0,
            this.#totalExpired ? `no response within ${this.#timeouts.totalMs} ms` : undefined,
          ),
    );
  }

  #settle(result: SendResult): void {
    this.#done = true;
    clearTimeout(this.#timer);
    this.#stopListening?.();
    this.#resolve(result);
  }

  /** The response, with the body read so far; `error` when it failed after the status line. */
  #finish(truncated: boolean, error?: unknown): void {
    const statusCode = this.#statusCode;
    const headers = this.#headers ?? {};
    const chunks = this.#chunks;
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#size);
    const cut = truncated || error !== undefined;
    const { kept, bytes: headerBytes } = keptHeaders(headers);
    const result: SendResult = {
      status: statusFromHttp(statusCode),
      httpStatus: statusCode,
      durationMs: 0,
      response: {
        status: statusCode,
        headers: kept,
        body: (cut ? trimPartialUtf8(bytes) : bytes).toString('utf8'),
        truncated: cut,
      },
    };
    if (headerBytes > MAX_RESPONSE_HEADER_BYTES) {
      result.status = 'invalid_response';
      result.response!.truncated = true;
      result.error = `response headers of ${headerBytes} bytes, over the limit of ${MAX_RESPONSE_HEADER_BYTES}`;
      this.#settle(result);
      return;
    }
    // The status line decides the outcome; a body cut short only loses detail.
    if (error !== undefined) result.error = `response body: ${errorMessage(error)}`;
    if (result.status !== 'ok' && result.error === undefined) result.error = `HTTP ${statusCode}`;
    if (statusCode === 429 || statusCode === 503) {
      const retryAfterMs = parseRetryAfter(headers['retry-after']);
      if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
    }
    this.#settle(result);
  }
}

function onDeadline(exchange: Exchange): void {
  exchange.deadline();
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new errors.RequestAbortedError();
}
