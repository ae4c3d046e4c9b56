/**
 * Schedules: the rows of `schedules`, set from TypeScript (`dispatch.schedule`,
 * `dispatch.schedules`) and the CLI. Expressions and zones are checked here,
 * before anything is written; a row written with plain SQL is checked by
 * the workers, which mark a bad one with its error.
 */
import type pg from 'pg';
import { assertCatchUp, assertScheduleName, parseCron } from '../core/cron.js';
import { DispatchError, fromPgError } from '../core/errors.js';
import { type Statements, statements } from '../core/statement.js';

export interface Schedule {
  name: string;
  function: string;
  cron: string;
  timezone: string;
  input: unknown;
  options: Record<string, unknown>;
  enabled: boolean;
  catch_up: number;
  next_tick: Date | null;
  last_tick: Date | null;
  last_call_id: string | null;
  error: string | null;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ScheduleSpec {
  /** The function each tick calls. */
  function: string;
  /** Cron expression: five fields, six with seconds first, or `@hourly` and the like. */
  cron: string;
  /** The input of every call. (Default: null) */
  input?: unknown;
  /** IANA time zone the expression is read in. (Default: `UTC`) */
  timezone?: string;
  /** After a downtime, how many of the missed ticks run, the latest first; 0 skips them. (Default: 0) */
  catchUp?: number;
  /** Whether it runs. (Default: true for a new schedule; an existing row keeps its flag) */
  enabled?: boolean;
  /** Options of each call. */
  callOptions?: { retryPolicy?: string; priority?: number; maxAttempts?: number };
  description?: string;
}

/** What `set` may change; unnamed fields keep their value. */
export type ScheduleChange = Partial<Omit<ScheduleSpec, 'callOptions'>>;

const COLUMNS = `name, function, cron, timezone, input, options, enabled, catch_up, next_tick,
  last_tick, last_call_id::text, error, description, created_at, updated_at`;

export class Schedules {
  readonly #pool: pg.Pool;
  readonly #s: string;
  readonly #q: Statements['q'];

  constructor(pool: pg.Pool, schema: string, prepared = true) {
    this.#pool = pool;
    ({ s: this.#s, q: this.#q } = statements(schema, prepared));
  }

  /**
   * Creates a schedule or makes an existing one match `spec`; running it
   * again with the same spec changes nothing, so a deploy can declare its
   * schedules at start-up. An edit applies from the next tick.
   */
  async declare(name: string, spec: ScheduleSpec): Promise<Schedule> {
    if (spec === null || typeof spec !== 'object') {
      throw new DispatchError('INVALID_SCHEDULE', 'a schedule needs { function, cron }');
    }
    if (typeof spec.function !== 'string' || spec.function === '') {
      throw new DispatchError('INVALID_SCHEDULE', `schedule ${name}: function is required`);
    }
    return this.#set(name, {
      ...spec,
      input: spec.input ?? null,
      timezone: spec.timezone ?? 'UTC',
      catchUp: spec.catchUp ?? 0,
      options: callOptions(spec.callOptions ?? {}),
      description: spec.description ?? null,
    });
  }

  /** Changes the given fields of a schedule, or creates it when `function` and `cron` are given. */
  set(name: string, change: ScheduleChange): Promise<Schedule> {
    return this.#set(name, change);
  }

  async #set(
    name: string,
    c: Omit<ScheduleChange, 'description'> & {
      options?: Record<string, unknown>;
      description?: string | null;
    },
  ): Promise<Schedule> {
    assertScheduleName(name);
    if (c.cron !== undefined || c.timezone !== undefined) {
      let cron = c.cron;
      let timezone = c.timezone;
      if (cron === undefined || timezone === undefined) {
        const current = await this.get(name);
        cron ??= current?.cron;
        timezone ??= current?.timezone ?? 'UTC';
      }
      if (cron !== undefined) parseCron(cron, timezone);
    }
    if (c.catchUp !== undefined) assertCatchUp(c.catchUp);
    if (c.enabled !== undefined && typeof c.enabled !== 'boolean') {
      throw new DispatchError('INVALID_SCHEDULE', 'enabled must be true or false');
    }
    let input: string | null = null;
    if ('input' in c) {
      input = JSON.stringify(c.input ?? null);
      if (input === undefined) {
        throw new DispatchError('INVALID_INPUT', `schedule ${name}: input is not JSON`);
      }
    }
    const rows = await this.#query<Schedule>(
      'schedule_set',
      `select ${COLUMNS} from ${this.#s}.schedule_set($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9)`,
      [
        name,
        c.function ?? null,
        c.cron ?? null,
        c.timezone ?? null,
        input,
        c.options === undefined ? null : JSON.stringify(c.options),
        c.enabled ?? null,
        c.catchUp ?? null,
        c.description ?? null,
      ],
    );
    return rows[0]!;
  }

  async get(name: string): Promise<Schedule | undefined> {
    const rows = await this.#query<Schedule>(
      'schedule_get',
      `select ${COLUMNS} from ${this.#s}.schedules where name = $1`,
      [name],
    );
    return rows[0];
  }

  list(): Promise<Schedule[]> {
    return this.#query<Schedule>(
      'schedule_list',
      `select ${COLUMNS} from ${this.#s}.schedules order by name`,
      [],
    );
  }

  /** Enables a schedule (from its next tick) and clears an error; throws UNKNOWN_SCHEDULE. */
  async enable(name: string): Promise<void> {
    await this.#change(
      name,
      'schedule_enable',
      `update ${this.#s}.schedules set enabled = true, error = null, next_tick = null
        where name = $1 returning name`,
    );
  }

  async disable(name: string): Promise<void> {
    await this.#change(
      name,
      'schedule_disable',
      `update ${this.#s}.schedules set enabled = false where name = $1 returning name`,
    );
  }

  /** Deletes a schedule; the calls it dispatched stay. */
  async remove(name: string): Promise<void> {
    await this.#change(
      name,
      'schedule_remove',
      `delete from ${this.#s}.schedules where name = $1 returning name`,
    );
  }

  async #change(name: string, queryName: string, text: string): Promise<void> {
    const rows = await this.#query(queryName, text, [name]);
    if (rows.length === 0) {
      throw new DispatchError('UNKNOWN_SCHEDULE', `no schedule named ${JSON.stringify(name)}`);
    }
  }

  async #query<R>(name: string, text: string, values: unknown[]): Promise<R[]> {
    try {
      const { rows } = await this.#pool.query({ ...this.#q(name, text), values });
      return rows as R[];
    } catch (err) {
      throw fromPgError(err);
    }
  }
}

function callOptions(o: NonNullable<ScheduleSpec['callOptions']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.retryPolicy !== undefined) out['retry_policy'] = o.retryPolicy;
  if (o.priority !== undefined) {
    if (!Number.isInteger(o.priority) || o.priority < -32768 || o.priority > 32767) {
      throw new DispatchError(
        'INVALID_OPTION',
        'priority must be an integer between -32768 and 32767',
      );
    }
    out['priority'] = o.priority;
  }
  if (o.maxAttempts !== undefined) {
    if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1) {
      throw new DispatchError('INVALID_OPTION', 'maxAttempts must be an integer >= 1');
    }
    out['max_attempts'] = o.maxAttempts;
  }
  return out;
}
