/**
 * A counting semaphore per origin, so that a slow endpoint holds at most
 * `limit` of the sender's requests and never the slots of another origin.
 */
import { type AbortSource, onAbort } from '../core/abort.js';

interface Slots {
  active: number;
  waiters: Array<() => void>;
}

// Weight of the newest request in an origin's average slot hold time.
const HOLD_WEIGHT = 0.2;
// Origins whose hold time and schedule are remembered: a worker that sends
// to ever new origins starts over rather than grow without bound.
const MAX_REMEMBERED = 10_000;

export class OriginLimiter {
  readonly #limit: number;
  readonly #origins = new Map<string, Slots>();
  /** Average time a request to each origin holds its slot, in ms. */
  readonly #holdMs = new Map<string, number>();
  /** When the last request sent away from each saturated origin was told to come back. */
  readonly #nextTurn = new Map<string, number>();

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`per-origin concurrency must be a positive integer: ${limit}`);
    }
    this.#limit = limit;
  }

  /** Requests in flight for `origin` (for tests and metrics). */
  active(origin: string): number {
    return this.#origins.get(origin)?.active ?? 0;
  }

  /** Whether every slot of `origin` is taken: a new request would wait. */
  saturated(origin: string): boolean {
    return this.active(origin) >= this.#limit;
  }

  /**
   * Whether a new request to a saturated `origin` should wait for a slot
   * rather than come back later: its requests free their slots within
   * `maxWaitMs` on average, and at most half the limit already wait.
   */
  worthWaiting(origin: string, maxWaitMs: number): boolean {
    const waiting = this.#origins.get(origin)?.waiters.length ?? 0;
    return (
      waiting < Math.ceil(this.#limit / 2) &&
      (this.#holdMs.get(origin) ?? Number.POSITIVE_INFINITY) <= maxWaitMs
    );
  }

  /**
   * How long a request to a saturated `origin` should stay away: its turn in
   * a schedule of the requests sent back before it, spaced by the origin's
   * average hold time divided by the limit, so that they return about when
   * slots free up instead of all at once (at least `minMs`).
   */
  comeBackIn(origin: string, minMs: number): number {
    const now = performance.now();
    const spacing = (this.#holdMs.get(origin) ?? minMs) / this.#limit;
    const turn = Math.max(this.#nextTurn.get(origin) ?? 0, now + minMs) + spacing;
    if (this.#nextTurn.size >= MAX_REMEMBERED) this.#nextTurn.clear();
    this.#nextTurn.set(origin, turn);
    return Math.round(turn - now);
  }

  /** A slot's release function if one is free now, without waiting; else undefined. */
  tryAcquire(origin: string): (() => void) | undefined {
    const slots = this.#slots(origin);
    if (slots.active >= this.#limit) return undefined;
    slots.active++;
    return this.#releaser(origin, slots);
  }

  /** Waits for a slot; resolves to its release function. Rejects if `signal` aborts first. */
  acquire(origin: string, signal?: AbortSource): Promise<() => void> {
    const free = this.tryAcquire(origin);
    if (free) return Promise.resolve(free);
    const own = this.#slots(origin);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      let stopListening: (() => void) | undefined;
      const grant = (): void => {
        stopListening?.();
        resolve(this.#releaser(origin, own));
      };
      own.waiters.push(grant);
      if (signal) {
        stopListening = onAbort(signal, () => {
          const i = own.waiters.indexOf(grant);
          if (i !== -1) own.waiters.splice(i, 1);
          reject(signal.reason);
        });
      }
    });
  }

  #slots(origin: string): Slots {
    let slots = this.#origins.get(origin);
    if (!slots) {
      slots = { active: 0, waiters: [] };
      this.#origins.set(origin, slots);
    }
    return slots;
  }

  #releaser(origin: string, slots: Slots): () => void {
    let released = false;
    const grantedAt = performance.now();
    return () => {
      if (released) return;
      released = true;
      const held = performance.now() - grantedAt;
      const average = this.#holdMs.get(origin);
      if (average === undefined && this.#holdMs.size >= MAX_REMEMBERED) this.#holdMs.clear();
      this.#holdMs.set(
        origin,
        average === undefined ? held : average + HOLD_WEIGHT * (held - average),
      );
      const next = slots.waiters.shift();
      // The slot passes straight to the next waiter: `active` stays the same.
      if (next) return next();
      slots.active--;
      if (slots.active === 0) this.#origins.delete(origin);
    };
  }
}
