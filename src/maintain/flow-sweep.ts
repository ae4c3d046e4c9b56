/**
 * The flow sweep: every interval, starts the calls waiting for a
 * concurrency slot whose retry time came, and frees slots their holder never
 * gave back (a worker that died between recording an attempt and freeing its
 * slot, a call cancelled while it held one). Slots freed the normal way go to
 * the next waiter at once, without waiting for the sweep.
 */
import type { Logger } from 'pino';
import { runOne, type Runtime } from '../sql/runtime.js';
import { PeriodicService } from './service.js';

export class FlowSweep extends PeriodicService {
  readonly #rt: Runtime;

  constructor(rt: Runtime, logger: Logger, intervalMs = 1_000) {
    super(logger, intervalMs);
    this.#rt = rt;
  }

  /** One sweep; returns the calls it started. */
  async runOnce(): Promise<number> {
    const row = await runOne<{ started: number }>(this.#rt, this.#rt.queries.flowSweep, []);
    return row.started;
  }

  protected async round(): Promise<void> {
    try {
      const started = await this.runOnce();
      this.outage.ok('flow sweep');
      if (started > 0) this.logger.debug({ started }, 'flow sweep started waiting calls');
    } catch (err) {
      this.outage.failed('flow sweep', err, 'will try again next round');
    }
  }
}
