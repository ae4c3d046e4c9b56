/**
 * The scheduler: a worker service that dispatches the ticks of the rows of
 * `schedules`. A round is one transaction holding the `scheduler_clock`
 * row, so rounds of several workers run one after the other and a tick is
 * dispatched once; its call's idempotency key (schedule and tick) makes a
 * second dispatch of the same tick a no-op besides. The timer aims at the
 * next tick of any schedule, and looks again at least every `intervalMs` for
 * new or edited rows.
 */
import type { Cron } from 'croner';
import type { Logger } from 'pino';
import { parseCron, planTicks } from '../core/cron.js';
import { DispatchError } from '../core/errors.js';
import type { Runtime } from '../sql/runtime.js';
import { PeriodicService } from './service.js';

export interface SchedulerOptions {
  /** Longest wait between two looks at the schedules, in ms. (Default: 1000) */
  intervalMs?: number;
  /**
   * Rounds further apart than this (on all workers together) mean no worker
   * was scheduling: ticks in between were missed, and each schedule's
   * `catch_up` decides how many of them run. In ms. (Default: 5000)
   */
  missedAfterMs?: number;
}

export const SCHEDULER_DEFAULTS = { intervalMs: 1_000, missedAfterMs: 5_000 } as const;

interface DueSchedule {
  name: string;
  cron: string;
  timezone: string;
  catch_up: number;
  next_tick: Date | null;
}

interface Decision {
  name: string;
  ticks?: string[];
  next_tick?: string | null;
  error?: string;
}

/** Schedules looked at per round; more wait for the next one (moments later). */
const BATCH = 200;

export class Scheduler extends PeriodicService {
  readonly #rt: Runtime;
  readonly #options: Required<SchedulerOptions>;
  /** Parsed expressions by `cron|timezone`: a round parses each only once per process. */
  readonly #parsed = new Map<string, Cron>();
  #nextMs: number;

  constructor(rt: Runtime, logger: Logger, options: SchedulerOptions = {}) {
    const o = { ...SCHEDULER_DEFAULTS, ...options };
    if (!(o.intervalMs > 0) || !(o.missedAfterMs > 0)) {
      throw new DispatchError(
        'INVALID_OPTION',
        'scheduler intervalMs and missedAfterMs must be positive',
      );
    }
    super(logger, o.intervalMs);
    this.#rt = rt;
    this.#options = o;
    this.#nextMs = o.intervalMs;
  }

  /** One round; returns the calls dispatched and the ms until the next tick of any schedule. */
  async runOnce(): Promise<{ dispatched: number; nextInMs: number | null }> {
    const q = this.#rt.queries;
    const client = await this.#rt.pool.connect();
    let dispatched = 0;
    try {
      await client.query('begin');
      const { rows: clock } = await client.query<{ round_at: Date; previous: Date | null }>(
        q.schedulerBegin,
      );
      const { round_at: now, previous } = clock[0]!;
      const coveredUntil =
        previous === null || now.getTime() - previous.getTime() <= this.#options.missedAfterMs
          ? now
          : previous;
      const { rows: due } = await client.query<DueSchedule>({
        ...q.schedulesDue,
        values: [now, BATCH],
      });
      const decisions = due.map((s) => this.#decide(s, now, coveredUntil));
      if (decisions.length > 0) {
        const { rows } = await client.query<{
          name: string;
          tick: Date | null;
          call_id: string | null;
          error: string | null;
        }>({ ...q.schedulesApply, values: [JSON.stringify(decisions)] });
        for (const r of rows) {
          if (r.error !== null) {
            this.logger.error(
              { schedule: r.name, error: r.error },
              `schedule ${r.name} skipped until it is edited: ${r.error}`,
            );
          } else dispatched++;
        }
      }
      const { rows: next } = await client.query<{ in_ms: number | null }>({
        ...q.schedulesNextTick,
        values: [now],
      });
      await client.query('commit');
      return { dispatched, nextInMs: next[0]?.in_ms ?? null };
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  #decide(s: DueSchedule, now: Date, coveredUntil: Date): Decision {
    let cron: Cron;
    try {
      cron = this.#cron(s.cron, s.timezone);
    } catch (err) {
      return { name: s.name, error: (err as Error).message };
    }
    if (s.next_tick === null) {
      // New or edited: from the next tick on.
      return { name: s.name, ticks: [], next_tick: cron.nextRun(now)?.toISOString() ?? null };
    }
    const plan = planTicks(cron, s.next_tick, now, coveredUntil, s.catch_up);
    if (plan.dropped > 0) {
      this.logger.warn(
        { schedule: s.name, dropped: plan.dropped, catchUp: s.catch_up },
        `schedule ${s.name}: ${plan.dropped} tick(s) missed while no worker was scheduling were not run (catch_up ${s.catch_up})`,
      );
    }
    return {
      name: s.name,
      ticks: plan.ticks.map((t) => t.toISOString()),
      next_tick: plan.nextTick?.toISOString() ?? null,
    };
  }

  #cron(expression: string, timezone: string): Cron {
    const key = `${expression}|${timezone}`;
    let cron = this.#parsed.get(key);
    if (!cron) {
      cron = parseCron(expression, timezone);
      if (this.#parsed.size > 1_000) this.#parsed.clear();
      this.#parsed.set(key, cron);
    }
    return cron;
  }

  /** A round that logs instead of throwing; it sets the wait before the next. */
  protected async round(): Promise<void> {
    this.#nextMs = this.#options.intervalMs;
    try {
      const { dispatched, nextInMs } = await this.runOnce();
      this.outage.ok('scheduler');
      if (dispatched > 0) this.logger.debug({ dispatched }, 'scheduler: dispatched ticks');
      // A few ms past the tick, so that it is due when the round reads it.
      if (nextInMs !== null)
        this.#nextMs = Math.min(this.#options.intervalMs, Math.max(0, nextInMs) + 5);
    } catch (err) {
      this.outage.failed('scheduler', err, 'will try again');
    }
  }

  /** Aimed at the next tick of any schedule, at most the interval away. */
  protected override nextDelayMs(): number {
    return this.#nextMs;
  }
}
