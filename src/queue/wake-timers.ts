/**
 * Timers for the retries this worker scheduled: claim when one is due rather
 * than at the next poll, so retries keep to their policy's schedule. Other
 * workers' retries are found by the poll.
 */

/** A few ms late on purpose: a due time lost its microseconds on the way to a Date, and a claim a hair early finds nothing. */
const DUE_MARGIN_MS = 5;

export class WakeTimers {
  readonly #onDue: () => void;
  /** By 10 ms bucket of their due time. */
  readonly #timers = new Map<number, NodeJS.Timeout>();

  constructor(onDue: () => void) {
    this.#onDue = onDue;
  }

  wakeAt(at: Date): void {
    const bucket = Math.ceil((at.getTime() + DUE_MARGIN_MS) / 10) * 10;
    if (this.#timers.has(bucket)) return;
    const timer = setTimeout(
      () => {
        this.#timers.delete(bucket);
        this.#onDue();
      },
      Math.max(0, bucket - Date.now()),
    );
    timer.unref();
    this.#timers.set(bucket, timer);
  }

  clear(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
