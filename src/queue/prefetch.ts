/**
 * Claimed jobs waiting for a free slot, so a finished attempt's slot refills
 * without a round trip and claims come in batches. A job that waits longer
 * than the TTL (every slot busy with slow attempts) goes back to the queue
 * for idle workers, and for a TTL after that the buffer takes no more.
 */
import type { ClaimedJob } from './job.js';

interface Buffered {
  job: ClaimedJob;
  claimedAt: number;
}

export class PrefetchBuffer {
  readonly #size: number;
  readonly #ttlMs: number;
  #jobs: Buffered[] = [];
  /** Until then, claim only for free slots: buffered jobs went stale, the slots turn over slowly. */
  #noBufferUntil = 0;

  constructor(size: number, ttlMs: number) {
    this.#size = size;
    this.#ttlMs = ttlMs;
  }

  get length(): number {
    return this.#jobs.length;
  }

  /** How many jobs the buffer may hold now. */
  room(): number {
    return Date.now() < this.#noBufferUntil ? 0 : this.#size;
  }

  push(jobs: readonly ClaimedJob[]): void {
    const claimedAt = Date.now();
    for (const job of jobs) this.#jobs.push({ job, claimedAt });
  }

  shift(): ClaimedJob | undefined {
    return this.#jobs.shift()?.job;
  }

  ids(): string[] {
    return this.#jobs.map((b) => b.job.id);
  }

  takeAll(): ClaimedJob[] {
    return this.#jobs.splice(0).map((b) => b.job);
  }

  /** The jobs that waited longer than the TTL, oldest first. */
  takeStale(): ClaimedJob[] {
    const cutoff = Date.now() - this.#ttlMs;
    if (!this.#jobs[0] || this.#jobs[0].claimedAt > cutoff) return [];
    const stale = this.#jobs.filter((b) => b.claimedAt <= cutoff);
    this.#jobs = this.#jobs.filter((b) => b.claimedAt > cutoff);
    this.#noBufferUntil = Date.now() + this.#ttlMs;
    return stale.map((b) => b.job);
  }
}
