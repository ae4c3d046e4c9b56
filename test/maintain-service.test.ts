/**
 * The background services' base: a round's pause ends when the service
 * stops, so a worker's stop is not held up by a rollup or prune pausing
 * between batches.
 */
import { describe, expect, it } from 'vitest';
import { PeriodicService } from '../src/maintain/service.js';
import { quietLogger } from './support/db.js';

class Pausing extends PeriodicService {
  readonly paused: number[] = [];
  entered: () => void = () => undefined;
  constructor(readonly pauseMs: number) {
    super(quietLogger(), 60_000);
  }
  protected async round(): Promise<void> {
    this.entered();
    const t0 = performance.now();
    await this.pause(this.pauseMs);
    this.paused.push(performance.now() - t0);
  }
}

/** A service whose first round has begun its pause. */
async function pausing(pauseMs: number): Promise<Pausing> {
  const s = new Pausing(pauseMs);
  const entered = new Promise<void>((resolve) => {
    s.entered = resolve;
  });
  s.start(0);
  await entered;
  return s;
}

describe('PeriodicService', () => {
  it('a pause lasts its time while the service runs', async () => {
    const s = await pausing(100);
    await new Promise((r) => setTimeout(r, 300));
    await s.stop();
    expect(s.paused).toHaveLength(1);
    expect(s.paused[0]).toBeGreaterThanOrEqual(95);
  });

  it('stop ends a pause in flight and waits for the round', async () => {
    const s = await pausing(60_000);
    const t0 = performance.now();
    await s.stop();
    expect(performance.now() - t0).toBeLessThan(1_000);
    // The round ran to its end: the pause returned, it was not abandoned.
    expect(s.paused).toHaveLength(1);
  });
});
