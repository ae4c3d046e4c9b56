/**
 * The attempt slots: at most `concurrency` jobs whose handler runs, and a
 * window of jobs whose outcome waits for its commit. The window is
 * backpressure on a slow database; what a crash can deliver twice is what ran
 * or finished without a committed outcome, at most concurrency + the window.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { ClaimedJob, RunJob } from './job.js';

/**
 * The recording window: 4 × concurrency, at least this many. The recorder
 * writes one group at a time, and a draining backlog must not stall on its
 * commits.
 */
const MIN_RECORDING_WINDOW = 50;

export interface SlotEvents {
  /** A slot may have freed up. */
  freed(): void;
  /** The attempt or its recording failed: give the job back. */
  failed(job: ClaimedJob, err: unknown): Promise<void>;
}

export class Slots {
  readonly #concurrency: number;
  readonly #maxRecording: number;
  readonly #on: SlotEvents;
  readonly #running = new Map<string, Promise<void>>();
  readonly #recording = new Map<string, Promise<void>>();
  /** Aborts running attempts when a stop's grace period is over; every attempt listens. */
  readonly #shutdown = new AbortController();

  constructor(concurrency: number, on: SlotEvents) {
    this.#concurrency = concurrency;
    this.#maxRecording = Math.max(4 * concurrency, MIN_RECORDING_WINDOW);
    this.#on = on;
    setMaxListeners(0, this.#shutdown.signal);
  }

  hasSlot(): boolean {
    return this.#running.size < this.#concurrency && this.#recording.size < this.#maxRecording;
  }

  /** Slots free for a claim. */
  free(): number {
    return this.hasSlot() ? this.#concurrency - this.#running.size : 0;
  }

  /** Ids of the jobs running or waiting for their outcome's commit. */
  ids(): string[] {
    return [...this.#running.keys(), ...this.#recording.keys()];
  }

  start(job: ClaimedJob, run: RunJob): void {
    const handled = run(job, this.#shutdown.signal).then(
      (finished) => {
        if (!finished) return;
        const recorded = finished.recorded
          .catch((err: unknown) => this.#on.failed(job, err))
          .finally(() => {
            this.#recording.delete(job.id);
            this.#on.freed();
          });
        this.#recording.set(job.id, recorded);
      },
      (err: unknown) => this.#on.failed(job, err),
    );
    this.#running.set(
      job.id,
      handled.finally(() => {
        this.#running.delete(job.id);
        this.#on.freed();
      }),
    );
  }

  /**
   * Lets running attempts finish for `gracePeriodMs`, then aborts the rest
   * (they give their jobs back), and waits for every recording.
   */
  async stop(gracePeriodMs: number, logger: Logger): Promise<void> {
    const all = Promise.allSettled(this.#running.values());
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace over'>((resolve) => {
      timer = setTimeout(() => resolve('grace over'), gracePeriodMs);
    });
    const first = await Promise.race([all, graceOver]);
    clearTimeout(timer);
    if (first === 'grace over') {
      logger.warn(
        { running: this.#running.size, gracePeriodMs },
        `grace period over: aborting ${this.#running.size} running attempt(s)`,
      );
      this.#shutdown.abort(new Error('worker shutting down'));
      await all;
    }
    await Promise.allSettled(this.#recording.values());
  }
}
