/**
 * Sends one webhook attempt with undici and turns whatever happens into a
 * SendResult: it never throws for a delivery failure. Connections are pooled
 * per origin (keep-alive), every address is checked by the AddressGuard at
 * connect time, redirects are not followed, and at most `maxResponseBytes`
 * of the response are read.
 */
import { Agent } from 'undici';
import type { AbortSource } from '../core/abort.js';
import { AddressGuard, type AddressGuardOptions } from './address-guard.js';
import {
  aborted,
  Exchange,
  failure,
  type SendResult,
  type SendTimeouts,
  SenderClosedError,
} from './exchange.js';
import { OriginLimiter } from './origin-limiter.js';

export {
  classifySendError,
  MAX_RESPONSE_HEADER_BYTES,
  type SendResponse,
  type SendResult,
  type SendTimeouts,
  SenderClosedError,
} from './exchange.js';


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


const DEFAULT_TIMEOUTS: SendTimeouts = { connectMs: 5000, headersMs: 15000, totalMs: 30000 };
const DEFAULT_MAX_RESPONSE_BYTES = 16384;
const DEFAULT_PER_ORIGIN = 10;
// Response headers undici reads before it stops parsing: past
// MAX_RESPONSE_HEADER_BYTES a response is invalid, but still recorded.
const READ_HEADER_BYTES = 262_144;

// URLs remembered as checked, per guard; a sender to ever new URLs starts over.
const MAX_TARGETS = 1_000;

/** A URL the guard let through, as undici's dispatch takes it. */
interface Target {
  origin: string;
  path: string;
}

export class WebhookSender {
  readonly #timeouts: SendTimeouts;
  readonly #maxResponseBytes: number;
  readonly #perOrigin: number;
  readonly #guard: AddressGuard;
  readonly #limiter: OriginLimiter;
  readonly #agents = new Map<string, Agent>();
  readonly #targets = new WeakMap<AddressGuard, Map<string, Target>>();
  readonly #mergedTimeouts = new WeakMap<Partial<SendTimeouts>, SendTimeouts>();
  /** The pool of each guard instance and connect timeout, without building its key. */
  readonly #guardAgents = new WeakMap<AddressGuard, Map<number, Agent>>();
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
    const timeouts = req.timeouts ? this.#timeoutsOf(req.timeouts) : this.#timeouts;
    const guard = req.guard ? toGuard(req.guard) : this.#guard;
    let target: Target;
    try {
      target = this.#target(guard, req.url);
    } catch (err) {
      return failure(err, 0);
    }

    const queuedAt = performance.now();
    let release = this.#limiter.tryAcquire(target.origin);
    if (!release) {
      try {
        release = await this.#limiter.acquire(target.origin, req.signal);
      } catch (err) {
        return aborted(err, 'aborted while waiting for a slot');
      }
    }
    const startedAt = performance.now();
    const queuedMs = Math.round(startedAt - queuedAt);
    try {
      const result = await this.#attempt(target, req, guard, timeouts);
      result.durationMs = Math.round(performance.now() - startedAt);
      if (queuedMs > 0) result.queuedMs = queuedMs;
      return result;
    } finally {
      release();
    }
  }

  /** A request's timeouts over the sender's; merged once per frozen object (an endpoint's). */
  #timeoutsOf(own: Partial<SendTimeouts>): SendTimeouts {
    let merged = this.#mergedTimeouts.get(own);
    if (!merged) {
      merged = { ...this.#timeouts, ...own };
      if (Object.isFrozen(own)) this.#mergedTimeouts.set(own, merged);
    }
    return merged;
  }

  /** The URL checked by `guard`, once per URL text and guard: a worker sends to few. */
  #target(guard: AddressGuard, url: string | URL): Target {
    const text = typeof url === 'string' ? url : url.href;
    let checked = this.#targets.get(guard);
    if (!checked) {
      checked = new Map();
      this.#targets.set(guard, checked);
    }
    let target = checked.get(text);
    if (!target) {
      // Checked from its text and kept as strings: a URL object could change afterwards.
      const parsed = guard.checkUrl(text);
      target = {
        origin: parsed.origin,
        path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
      };
      if (checked.size >= MAX_TARGETS) checked.clear();
      checked.set(text, target);
    }
    return target;
  }

  #attempt(
    target: Target,
    req: SendRequest,
    guard: AddressGuard,
    timeouts: SendTimeouts,
  ): Promise<SendResult> {
    const caller = req.signal;
    if (caller?.aborted) return Promise.resolve(aborted(caller.reason, 'aborted by the caller'));
    let agent: Agent;
    try {
      agent = this.#agent(guard, timeouts.connectMs);
    } catch (err) {
      return Promise.resolve(failure(err, 0));
    }
    const exchange = new Exchange(timeouts, req.maxResponseBytes ?? this.#maxResponseBytes, caller);
    agent.dispatch(
      {
        origin: target.origin,
        path: target.path,
        method: req.method ?? 'POST',
        headers: { 'user-agent': 'pgdispatch', ...req.headers },
        body: req.body ?? null,
        // The exchange's deadlines bound headers and body; undici's own
        // timers, one more pair per request, would only duplicate them.
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      exchange,
    );
    return exchange.result;
  }

  #agent(guard: AddressGuard, connectMs: number): Agent {
    // A call that waited for a slot while close() ran must not open a new pool.
    if (this.#closed) throw new SenderClosedError();
    let byTimeout = this.#guardAgents.get(guard);
    const known = byTimeout?.get(connectMs);
    if (known) return known;
    // Guards with equal options share a pool, whichever instance asks.
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
    if (!byTimeout) {
      byTimeout = new Map();
      this.#guardAgents.set(guard, byTimeout);
    }
    byTimeout.set(connectMs, agent);
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
