/**
 * Cron expressions, read by croner: validation with a stable error code, and
 * the ticks a scheduling round must dispatch.
 */
import { Cron } from 'croner';
import { DispatchError } from './errors.js';

/** The most ticks of one schedule a round dispatches; the rest wait for the next round. */
export const MAX_TICKS_PER_ROUND = 1_000;

/** Checks an IANA time zone name; throws INVALID_SCHEDULE. */
export function assertTimezone(timezone: string): void {
  try {
    if (typeof timezone !== 'string' || timezone === '') throw new RangeError('empty');
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new DispatchError(
      'INVALID_SCHEDULE',
      `unknown time zone ${JSON.stringify(timezone)}: use an IANA name such as UTC or Europe/Paris`,
    );
  }
}

/**
 * Parses a cron expression in a time zone; throws INVALID_SCHEDULE with
 * croner's reason for a bad expression, or when it never fires.
 */
export function parseCron(expression: string, timezone = 'UTC'): Cron {
  assertTimezone(timezone);
  if (typeof expression !== 'string' || expression.trim() === '' || expression.length > 256) {
    throw new DispatchError(
      'INVALID_SCHEDULE',
      'a cron expression is 1-256 characters, e.g. "*/5 * * * *"',
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(expression, { paused: true, timezone });
  } catch (err) {
    throw new DispatchError(
      'INVALID_SCHEDULE',
      `invalid cron expression ${JSON.stringify(expression)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (cron.nextRun() === null) {
    throw new DispatchError(
      'INVALID_SCHEDULE',
      `cron expression ${JSON.stringify(expression)} never fires`,
    );
  }
  return cron;
}

export interface TickPlan {
  /** Ticks to dispatch now, oldest first. */
  ticks: Date[];
  /** The first tick after them. */
  nextTick: Date | null;
  /** Ticks that fell in a downtime and were not dispatched (skipped, or beyond catch_up). */
  dropped: number;
}

/**
 * The ticks due at `now` for a schedule whose next tick is `nextTick`.
 * Ticks up to `coveredUntil` happened while a worker was scheduling and
 * run, however late; later ones fell in a downtime, of which only the latest
 * `catchUp` run.
 */
export function planTicks(
  cron: Cron,
  nextTick: Date,
  now: Date,
  coveredUntil: Date,
  catchUp: number,
): TickPlan {
  const ticks: Date[] = [];
  let t: Date | null = nextTick;
  while (t !== null && t <= now && t <= coveredUntil && ticks.length < MAX_TICKS_PER_ROUND) {
    ticks.push(t);
    t = cron.nextRun(t);
  }
  if (ticks.length === MAX_TICKS_PER_ROUND && t !== null && t <= now) {
    return { ticks, nextTick: t, dropped: 0 };
  }
  let dropped = 0;
  if (t !== null && t <= now) {
    // The downtime: from t to now. Its latest `catchUp` ticks run.
    const from = t;
    const latest = catchUp > 0 ? cron.previousRuns(catchUp, new Date(now.getTime() + 1)) : [];
    const kept = latest.filter((x) => x >= from).reverse();
    ticks.push(...kept);
    // Counting what was dropped is bounded: a long downtime of a per-second
    // schedule need not be walked tick by tick.
    let n = 0;
    for (let x: Date | null = from; x !== null && x <= now && n < 10_000; x = cron.nextRun(x)) n++;
    dropped = n - kept.length;
    t = cron.nextRun(now);
  }
  return { ticks, nextTick: t, dropped };
}

const SCHEDULE_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

export function assertScheduleName(name: string): void {
  if (typeof name !== 'string' || !SCHEDULE_NAME.test(name)) {
    throw new DispatchError(
      'INVALID_SCHEDULE',
      `invalid schedule name ${JSON.stringify(name)}: use 1-128 letters, digits and _.:-`,
    );
  }
}

export function assertCatchUp(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 1000) {
    throw new DispatchError(
      'INVALID_SCHEDULE',
      `catchUp must be an integer from 0 (skip missed ticks) to 1000, got ${String(n)}`,
    );
  }
}
