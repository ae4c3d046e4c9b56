/**
 * The dashboard's read model: every statement it runs, as named fragments
 * with bound parameters, built for one schema and run by the caller (the
 * dashboard runs them in READ ONLY transactions and shows their text).
 * A list's WHERE clause is put together from fixed fragments (never from
 * values), so the SQL shown under each view is exactly what ran, and the
 * planner sees only the conditions in use and can pick their index.
 */
import { quoteIdent, quoteLiteral } from '../core/ident.js';

export interface Statement {
  /** What the view calls it (shown above its SQL). */
  name: string;
  text: string;
  values: unknown[];
}

/** The channel workers notify after recording attempts (functions/notify_attempts.sql). */
export function attemptsChannel(schema: string): string {
  return `${schema}:attempts`;
}

/** Shown as "10,000+" past this: a list never counts a huge table. */
export const COUNT_CAP = 10_000;

export interface CallsFilter {
  statuses?: string[];
  function?: string;
  endpoint?: string;
  httpStatus?: number;
  /** Dispatched within this many seconds. */
  sinceS?: number;
  /** jsonb containment: calls whose input contains this. */
  input?: unknown;
  /** Keyset: calls with a smaller id. */
  before?: string;
}

/** The statements of one schema. */
export type DashboardQueries = ReturnType<typeof dashboardQueries>;

export function dashboardQueries(schema: string) {
  const s = quoteIdent(schema);

  function callsWhere(f: CallsFilter, values: unknown[]): string {
    const p = (v: unknown, cast: string) => {
      values.push(v);
      return `$${values.length}::${cast}`;
    };
    const where: string[] = [];
    if (f.statuses?.length) where.push(`c.status = any(${p(f.statuses, 'text[]')})`);
    if (f.function) where.push(`c.function = ${p(f.function, 'text')}`);
    if (f.endpoint)
      where.push(`c.function = 'webhook' and c.input ->> 'endpoint' = ${p(f.endpoint, 'text')}`);
    if (f.httpStatus !== undefined)
      where.push(
        `exists (select from ${s}.attempts a where a.call_id = c.id and a.http_status = ${p(f.httpStatus, 'integer')})`,
      );
    if (f.sinceS !== undefined)
      where.push(`c.created_at >= now() - make_interval(secs => ${p(f.sinceS, 'float8')})`);
    if (f.input !== undefined) where.push(`c.input @> ${p(JSON.stringify(f.input), 'jsonb')}`);
    return where.length ? `where ${where.join('\n   and ')}` : '';
  }

  /**
   * The window's minutes of attempt_rollups (its primary key leads with the
   * minute), by function or by endpoint: the stats never read attempts.
   */
  function windowRollups(by: 'function' | 'endpoint'): string {
    return `select r.minute, ${by === 'function' ? 'r.function' : 'r.endpoint'} as key,
               r.attempts, r.errors, r.histogram
          from ${s}.attempt_rollups r
         where r.minute >= date_trunc('minute', now() - make_interval(secs => $1::float8))${
           by === 'endpoint' ? `\n           and r.endpoint <> ''` : ''
         }`;
  }

  return {
    listCalls(f: CallsFilter, limit: number): Statement {
      const values: unknown[] = [];
      let where = callsWhere(f, values);
      if (f.before) {
        values.push(f.before);
        where = `${where ? `${where}\n   and` : 'where'} c.id < $${values.length}::bigint`;
      }
      values.push(limit);
      return {
        name: 'calls',
        text: `select c.id, c.function, c.status, c.attempts, c.input ->> 'endpoint' as endpoint,
       c.created_at, c.next_attempt_at, c.finished_at, c.last_error
  from ${s}.calls c
 ${where}
 order by c.id desc
 limit $${values.length}::integer`,
        values,
      };
    },

    countCalls(f: CallsFilter, cap = COUNT_CAP): Statement {
      const values: unknown[] = [];
      const where = callsWhere(f, values);
      values.push(cap + 1);
      return {
        name: 'calls count (capped)',
        // Newest first, as the list: the count walks the same index and stops.
        text: `select count(*)::integer as n
  from (select from ${s}.calls c
         ${where}
         order by c.id desc
         limit $${values.length}::integer) capped`,
        values,
      };
    },

    /** Ids of the calls a bulk action would change, at most `limit`, above `after`. */
    bulkIds(
      f: CallsFilter,
      statuses: string[],
      after: string,
      upto: string,
      limit: number,
    ): Statement {
      const values: unknown[] = [];
      const where = callsWhere({ ...f, statuses }, values);
      values.push(after, upto, limit);
      const n = values.length;
      return {
        name: 'bulk batch',
        text: `select c.id from ${s}.calls c
 ${where}
   and c.id > $${n - 2}::bigint and c.id <= $${n - 1}::bigint
 order by c.id limit $${n}::integer`,
        values,
      };
    },

    call(id: string): Statement {
      return {
        name: 'call',
        text: `select c.id, c.function, c.input, c.status, c.attempts, c.retry_policy, c.max_attempts,
       c.priority, c.idempotency_key, c.created_at, c.next_attempt_at, c.finished_at,
       c.last_error, c.output, c.job_id, c.parent_call_id, c.wake_need
  from ${s}.calls c
 where c.id = $1::bigint`,
        values: [id],
      };
    },

    attempts(id: string): Statement {
      return {
        name: 'attempts',
        text: `select a.attempt, a.started_at, a.finished_at, a.duration_ms, a.status, a.http_status,
       a.error, a.response, a.worker
  from ${s}.attempts a
 where a.call_id = $1::bigint
 order by a.attempt`,
        values: [id],
      };
    },

    events(id: string): Statement {
      return {
        name: 'call events',
        text: `select e.id, e.at, e.event, e.status, e.attempt, e.reason, e.actor
  from ${s}.call_events e
 where e.call_id = $1::bigint
 order by e.at, e.id`,
        values: [id],
      };
    },

    /** A workflow call's steps, in the order its body reached them (primary key). */
    steps(id: string): Statement {
      return {
        name: 'workflow steps',
        text: `select st.seq, st.name, st.kind, st.status, st.attempts, st.output, st.error,
       st.started_at, st.finished_at, st.child_call_id, st.wake_at, st.signal_key
  from ${s}.steps st
 where st.call_id = $1::bigint
 order by st.seq`,
        values: [id],
      };
    },

    /** The calls a workflow started (partial index on parent_call_id). */
    children(id: string, limit: number): Statement {
      return {
        name: 'child calls',
        text: `select c.id, c.function, c.status, c.attempts, c.created_at, c.finished_at
  from ${s}.calls c
 where c.parent_call_id = $1::bigint
 order by c.id
 limit $2::integer`,
        values: [id, limit],
      };
    },

    /** Why an unfinished call does not run: its flow-control wait, if any. */
    callWaits(id: string): Statement {
      return {
        name: 'flow-control wait',
        text: `select w.reason, w.key, w.since, w.until, w.detail
  from ${s}.call_waits w
 where w.call_id = $1::bigint`,
        values: [id],
      };
    },

    policy(name: string): Statement {
      return {
        name: 'retry policy',
        text: `select p.name, array(select extract(epoch from d)::float8 * 1000 from unnest(p.delays) d) as delays_ms,
       extract(epoch from p.base)::float8 * 1000 as base_ms, p.factor,
       extract(epoch from p.cap)::float8 * 1000 as cap_ms, p.jitter, p.max_attempts,
       extract(epoch from p.max_age)::float8 * 1000 as max_age_ms, p.description, p.updated_at
  from ${s}.retry_policies p
 where p.name = $1::text`,
        values: [name],
      };
    },

    policies(): Statement {
      return {
        name: 'retry policies',
        text: `select p.name, array(select extract(epoch from d)::float8 * 1000 from unnest(p.delays) d) as delays_ms,
       extract(epoch from p.base)::float8 * 1000 as base_ms, p.factor,
       extract(epoch from p.cap)::float8 * 1000 as cap_ms, p.jitter, p.max_attempts,
       extract(epoch from p.max_age)::float8 * 1000 as max_age_ms, p.description, p.updated_at,
       (select count(*)::integer from ${s}.functions f where f.retry_policy = p.name) as functions,
       (select count(*)::integer from ${s}.endpoints e where e.retry_policy = p.name) as endpoints
  from ${s}.retry_policies p
 order by p.name`,
        values: [],
      };
    },

    functions(): Statement {
      return {
        name: 'functions',
        text: `select f.name, f.retry_policy, f.max_attempts, f.updated_at
  from ${s}.functions f
 order by f.name`,
        values: [],
      };
    },

    /** Calls per function and status dispatched in the window (BRIN on created_at). */
    functionCounts(windowS: number): Statement {
      return {
        name: 'calls per function and status',
        text: `select c.function, c.status, count(*)::integer as n
  from ${s}.calls c
 where c.created_at >= now() - make_interval(secs => $1::float8)
 group by 1, 2
 order by 1, 2`,
        values: [windowS],
      };
    },

    /**
     * Attempts, errors and duration percentiles per function over the window,
     * from the per-minute rollup (percentiles read from its histogram).
     */
    functionTotals(windowS: number): Statement {
      return {
        name: 'attempts per function',
        text: `select x.key, sum(x.attempts)::integer as n, sum(x.errors)::integer as errors,
       ${s}.histogram_quantiles(${s}.histogram_sum(x.histogram), array[0.5, 0.95, 0.99]) as p
  from (${windowRollups('function')}) x
 group by 1
 order by 1`,
        values: [windowS],
      };
    },

    /**
     * Attempts per bucket of the window (a whole number of minutes), by
     * function or by endpoint, with error counts and duration percentiles,
     * from the per-minute rollup.
     */
    series(by: 'function' | 'endpoint', windowS: number, bucketS: number): Statement {
      return {
        name: `attempts per ${by} over time`,
        text: `select extract(epoch from date_bin(make_interval(secs => $2::float8), x.minute,
                                   timestamptz '2000-01-01'))::float8 as t,
       x.key, sum(x.attempts)::integer as n, sum(x.errors)::integer as errors,
       ${s}.histogram_quantiles(${s}.histogram_sum(x.histogram), array[0.5, 0.95, 0.99]) as p
  from (${windowRollups(by)}) x
 group by 1, 2
 order by 1, 2`,
        values: [windowS, bucketS],
      };
    },

    /** How far the rollup has read: attempts recorded since are not in the stats yet. */
    rollupState(): Statement {
      return {
        name: 'rollup watermark',
        text: `select rs.last_id, rs.updated_at,
       (select coalesce(max(a.id), 0) from ${s}.attempts a) - rs.last_id as behind
  from ${s}.rollup_state rs
 where rs.name = 'attempts'`,
        values: [],
      };
    },

    endpoints(): Statement {
      return {
        name: 'endpoints',
        text: `select e.name, e.url, e.enabled, e.disabled_at, e.disabled_reason, e.failing_since,
       e.last_success_at, e.last_failure_at, e.disable_after::text as disable_after,
       extract(epoch from e.failing_since + e.disable_after - now())::float8 as disable_in_s,
       cardinality(e.secrets) as secrets, e.retry_policy
  from ${s}.endpoints e
 order by e.name`,
        values: [],
      };
    },

    endpoint(name: string): Statement {
      return {
        name: 'endpoint',
        text: `select e.name, e.url, e.enabled, e.disabled_at, e.disabled_reason, e.failing_since,
       e.last_success_at, e.last_failure_at, e.disable_after::text as disable_after,
       extract(epoch from e.failing_since + e.disable_after - now())::float8 as disable_in_s,
       cardinality(e.secrets) as secrets, e.retry_policy, e.headers, e.created_at, e.updated_at
  from ${s}.endpoints e
 where e.name = $1::text`,
        values: [name],
      };
    },

    /** Adaptive concurrency per endpoint, where workers have reported for its origin. */
    endpointConcurrency(): Statement {
      return {
        name: 'adaptive concurrency',
        text: `select ec.endpoint, ec.origin, ec.concurrency_limit, ec.max_limit, ec.max_concurrency,
       ec.increases, ec.decreases, ec.updated_at, ec.last_change
  from ${s}.endpoint_concurrency ec
 order by ec.endpoint`,
        values: [],
      };
    },

    /** One endpoint's adaptive limit. */
    endpointConcurrencyOf(name: string): Statement {
      return {
        name: 'adaptive concurrency',
        text: `select ec.endpoint, ec.origin, ec.concurrency_limit, ec.max_limit, ec.max_concurrency,
       ec.increases, ec.decreases, ec.updated_at, ec.last_change
  from ${s}.endpoint_concurrency ec
 where ec.endpoint = $1::text`,
        values: [name],
      };
    },

    /** The latest changes of an origin's limit (index on origin, id). */
    concurrencyChanges(origin: string, limit: number): Statement {
      return {
        name: 'adaptive concurrency changes',
        text: `select ch.at, ch.from_limit, ch.to_limit, ch.reason
  from ${s}.origin_concurrency_changes ch
 where ch.origin = $1::text
 order by ch.id desc
 limit $2::integer`,
        values: [origin, limit],
      };
    },

    schedules(): Statement {
      return {
        name: 'schedules',
        text: `select sc.name, sc.function, sc.cron, sc.timezone, sc.enabled, sc.catch_up, sc.next_tick,
       sc.last_tick, sc.last_call_id, sc.error, sc.description, sc.changed_by, sc.updated_at
  from ${s}.schedules sc
 order by sc.name`,
        values: [],
      };
    },

    /**
     * A schedule's latest calls: its function's calls newest first (index on
     * function, id) whose idempotency key names the schedule's ticks.
     */
    scheduleCalls(name: string, fn: string, limit: number): Statement {
      const prefix = `schedule:${name}:`;
      return {
        name: `calls of schedule ${name}`,
        text: `select c.id, c.status, c.attempts, c.created_at, c.finished_at, c.idempotency_key
  from ${s}.calls c
 where c.function = $1::text
   and left(c.idempotency_key, $3::integer) = $2::text
 order by c.id desc
 limit $4::integer`,
        values: [fn, prefix, prefix.length, limit],
      };
    },

    workers(lostAfterS: number): Statement {
      return {
        name: 'workers',
        text: `select w.id, w.host, w.pid, w.started_at, w.heartbeat_at, w.concurrency, w.functions,
       w.version, extract(epoch from now() - w.heartbeat_at)::float8 as heartbeat_age_s,
       w.heartbeat_at < now() - make_interval(secs => $1::float8) as lost,
       (select count(*)::integer from graphile_worker._private_jobs j
         where j.locked_by = w.id) as in_flight
  from ${s}.workers w
 order by w.started_at`,
        values: [lostAfterS],
      };
    },

    /** Attempts recorded after `afterId`, oldest first: the live tail. */
    tail(afterId: string, limit: number): Statement {
      return {
        name: 'live tail',
        text: `select a.id, a.call_id, a.attempt, a.finished_at, a.duration_ms, a.status, a.http_status,
       a.error, c.function, c.input ->> 'endpoint' as endpoint
  from ${s}.attempts a
  join ${s}.calls c on c.id = a.call_id
 where a.id > $1::bigint
 order by a.id
 limit $2::integer`,
        values: [afterId, limit],
      };
    },

    maxCallId(): Statement {
      return {
        name: 'last call id',
        text: `select coalesce(max(c.id), 0)::text as id from ${s}.calls c`,
        values: [],
      };
    },

    lastAttemptId(): Statement {
      return {
        name: 'last attempt id',
        text: `select coalesce(max(a.id), 0)::text as id from ${s}.attempts a`,
        values: [],
      };
    },

    // Actions: the product's own functions, which record who did it.
    retryCall(id: string, actor: string): Statement {
      return {
        name: 'retry',
        text: `select ${s}.retry_call($1::bigint, $2::text, 'retried from the dashboard') as done`,
        values: [id, actor],
      };
    },
    cancelCall(id: string, actor: string): Statement {
      return {
        name: 'cancel',
        text: `select ${s}.cancel_call($1::bigint, 'cancelled from the dashboard', $2::text) as done`,
        values: [id, actor],
      };
    },
    enableEndpoint(name: string, replay: boolean, actor: string): Statement {
      return {
        name: 'enable endpoint',
        text: `select ${s}.enable_endpoint($1::text, $2::boolean, $3::text) as replayed`,
        values: [name, replay, actor],
      };
    },
    disableEndpoint(name: string, actor: string): Statement {
      return {
        name: 'disable endpoint',
        text: `update ${s}.endpoints
   set enabled = false, disabled_at = coalesce(disabled_at, now()),
       disabled_reason = 'disabled from the dashboard by ' || $2::text, updated_at = now()
 where name = $1::text
 returning name`,
        values: [name, actor],
      };
    },
    setScheduleEnabled(name: string, enabled: boolean, actor: string): Statement {
      return {
        name: enabled ? 'enable schedule' : 'disable schedule',
        // The schedules_edited trigger clears next_tick and error when enabled changes.
        text: `update ${s}.schedules set enabled = $2::boolean, changed_by = $3::text, updated_at = now()
 where name = $1::text
 returning name`,
        values: [name, enabled, actor],
      };
    },
    rotateSecret(name: string, secret: string): Statement {
      return {
        name: 'rotate secret',
        text: `update ${s}.endpoints set secrets = array[$2::text, secrets[1]], updated_at = now()
 where name = $1::text
 returning name`,
        values: [name, secret],
      };
    },
    dropPreviousSecrets(name: string): Statement {
      return {
        name: 'drop previous secrets',
        text: `update ${s}.endpoints set secrets = secrets[1:1], updated_at = now()
 where name = $1::text
 returning name`,
        values: [name],
      };
    },
  };
}

/**
 * The statement with its parameters written in as literals, to paste into
 * psql. Only for display: what runs is always the parameterised text.
 */
export function inlineSql(st: Statement): string {
  return st.text.replace(/\$(\d+)/g, (_, n: string) => literal(st.values[Number(n) - 1]));
}

function literal(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v))
    return quoteLiteral(`{${v.map((x) => `"${String(x).replace(/["\\]/g, '\\$&')}"`).join(',')}}`);
  return quoteLiteral(String(v));
}
