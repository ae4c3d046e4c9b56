/**
 * A counting semaphore per origin, so that a slow endpoint holds at most
 * `limit` of the sender's requests and never the slots of another origin.
 */
interface Slots {
  active: number;
  waiters: Array<() => void>;
}

export class OriginLimiter {
  readonly #limit: number;
  readonly #origins = new Map<string, Slots>();

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

  /** Waits for a slot; resolves to its release function. Rejects if `signal` aborts first. */
  acquire(origin: string, signal?: AbortSignal): Promise<() => void> {
    let slots = this.#origins.get(origin);
    if (!slots) {
      slots = { active: 0, waiters: [] };
      this.#origins.set(origin, slots);
    }
    const own = slots;
    if (own.active < this.#limit) {
      own.active++;
      return Promise.resolve(this.#releaser(origin, own));
    }
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.#releaser(origin, own));
      };
      const onAbort = (): void => {
        const i = own.waiters.indexOf(grant);
        if (i !== -1) own.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      own.waiters.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #releaser(origin: string, slots: Slots): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = slots.waiters.shift();
      // The slot passes straight to the next waiter: `active` stays the same.
      if (next) return next();
      slots.active--;
      if (slots.active === 0) this.#origins.delete(origin);
    };
  }
}
