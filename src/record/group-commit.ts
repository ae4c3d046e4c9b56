/**
 * Group commit, shared by the attempt recorder and the workflow recorder:
 * items handed over while a write is in flight wait and go together in the
 * next one, so under load one statement records dozens. A group that fails
 * for what one of its items holds (not a lost connection) is written again
 * item by item, so one bad item fails alone.
 */
import { isConnectionError } from '../core/errors.js';

interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

export interface GroupWriter<T, R> {
  /** Most items in one write. */
  maxBatch: number;
  /** Writes a group: one result per item, in order; an Error fails that item alone. */
  write(items: T[]): Promise<(R | Error)[]>;
  /**
   * One item's write failed (alone, or after its group's): a result to
   * settle it with after all, or the error to reject it with. (Default: the error)
   */
  failed?(item: T, err: unknown): Promise<R | Error>;
}

export class GroupCommit<T, R> {
  readonly #writer: GroupWriter<T, R>;
  #queue: Pending<T, R>[] = [];
  #running: Promise<void> | null = null;

  constructor(writer: GroupWriter<T, R>) {
    this.#writer = writer;
  }

  /** Resolves once the item is committed. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#start();
    });
  }

  /** The writes in flight, if any. */
  inFlight(): Promise<void> | null {
    return this.#running;
  }

  /** Waits until every item handed over so far is written (or has failed). */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #start(): void {
    this.#running ??= this.#drain().finally(() => {
      this.#running = null;
      // An item added after the drain's last look, before this ran, found
      // a drain still running and started none.
      if (this.#queue.length > 0) this.#start();
    });
  }

  async #drain(): Promise<void> {
    // Let the items finishing in this same turn of the event loop join in.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#writer.maxBatch);
      try {
        settle(batch, await this.#writer.write(batch.map((p) => p.item)));
      } catch (err) {
        if (isConnectionError(err)) {
          for (const p of batch) p.reject(err);
        } else if (batch.length === 1) {
          await this.#failed(batch[0]!, err);
        } else {
          for (const p of batch) {
            try {
              settle([p], await this.#writer.write([p.item]));
            } catch (one) {
              await this.#failed(p, one);
            }
          }
        }
      }
    }
  }

  async #failed(p: Pending<T, R>, err: unknown): Promise<void> {
    try {
      const r = this.#writer.failed ? await this.#writer.failed(p.item, err) : toError(err);
      if (r instanceof Error) p.reject(r);
      else p.resolve(r);
    } catch (again) {
      p.reject(again);
    }
  }
}

function settle<T, R>(batch: Pending<T, R>[], results: (R | Error)[]): void {
  batch.forEach((p, i) => {
    const r = results[i];
    if (r instanceof Error) p.reject(r);
    else p.resolve(r as R);
  });
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
