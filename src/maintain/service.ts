/**
 * The base of every background service of a worker: a round on a timer
 * (never two at once), a stop that waits for the round in flight, and
 * failures logged once per outage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { OutageLog } from '../core/outage.js';

export abstract class PeriodicService {
  protected readonly logger: Logger;
  protected readonly outage: OutageLog;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | null = null;
  #stopped = false;
  readonly #stopping = new AbortController();

  constructor(logger: Logger, intervalMs: number) {
    this.logger = logger;
    this.outage = new OutageLog(logger);
    this.#intervalMs = intervalMs;
  }

  protected get intervalMs(): number {
    return this.#intervalMs;
  }

  protected get stopped(): boolean {
    return this.#stopped;
  }

  /** Waits `ms`, or less when the service stops meanwhile (a round's pause must not hold up a stop). */
  protected pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#stopping.signal }).catch(() => undefined);
  }

  /** One round; it catches and logs its own errors. */
  protected abstract round(): Promise<void>;

  /** The wait before the next round, asked after each: the interval, unless a service knows better. */
  protected nextDelayMs(): number {
    return this.#intervalMs;
  }

  /** Runs a first round now and waits for it, then rounds every interval. */
  async startNow(): Promise<void> {
    this.#round = this.round();
    await this.#round;
    this.#round = null;
    this.#schedule(this.nextDelayMs());
  }

  /** First round after `firstDelayMs`, then every interval. */
  start(firstDelayMs = this.#intervalMs): void {
    this.#schedule(firstDelayMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    clearTimeout(this.#timer);
    await this.#round;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#round = this.round().finally(() => {
        this.#round = null;
        this.#schedule(this.nextDelayMs());
      });
    }, delayMs);
    this.#timer.unref();
  }
}
