/**
 * Named queries of the operations side: heartbeats, rescue, retention,
 * listings for the CLI, bulk retry and cancel. Same rules as queries.ts:
 * bound parameters only, the validated schema name is the one thing spliced.
 */
import { quoteIdent } from '../schema/ident.js';
import type { NamedQuery } from './queries.js';

export type OpsQueries = ReturnType<typeof buildOpsQueries>;

/** Filter shared by listings and bulk operations: $1 statuses, $2 function, $3 since (seconds). */
const CALL_FILTER = `($1::text[] is null or c.status = any($1::text[]))
  and ($2::text is null or c.function = $2::text)
  and ($3::float8 is null or c.created_at >= now() - make_interval(secs => $3::float8))`;

export function buildOpsQueries(schema: string) {
  const s = quoteIdent(schema);
  const q = (name: string, text: string): NamedQuery => ({ name: `pgd_${name}/${schema}`, text });
  return {
    heartbeat: q(
      'worker_heartbeat',
      `select ${s}.worker_heartbeat($1, $2, $3, $4, $5::text[], $6) as existed`,
    ),
    unregister: q('worker_unregister', `select ${s}.worker_unregister($1)`),
    rescue: q(
      'rescue_lost_workers',
      `select worker_id, host, pid, heartbeat_at, jobs
         from ${s}.rescue_lost_workers(make_interval(secs => $1::float8), $2)`,
    ),
    prune: q('prune', `select ${s}.prune(make_interval(secs => $1::float8), $2) as deleted`),
    waiting: q(
      'waiting_calls',
      // Read from the jobs of pgdispatch's functions, not from calls: the
      // jobs table holds only what is queued, so this stays cheap however
      // long the history grows.
      `select count(*)::integer as waiting,
              coalesce(extract(epoch from now() - min(j.run_at)), 0)::float8 as oldest_s
         from graphile_worker._private_jobs j
         join graphile_worker._private_tasks t on t.id = j.task_id
        where t.identifier in (select name from ${s}.functions)
          and j.run_at <= now() and j.attempts < j.max_attempts`,
    ),
    listWorkers: q(
      'list_workers',
      `select w.id, w.host, w.pid, w.started_at, w.heartbeat_at, w.concurrency, w.functions,
              w.version, extract(epoch from now() - w.heartbeat_at)::float8 as heartbeat_age_s,
              (select count(*)::integer from graphile_worker._private_jobs j
                where j.locked_by = w.id) as locked_jobs
         from ${s}.workers w order by w.started_at`,
    ),
    listCalls: q(
      'list_calls',
      `select c.id::text, c.function, c.status, c.attempts, c.retry_policy, c.created_at,
              c.next_attempt_at, c.finished_at, c.last_error
         from ${s}.calls c
        where ${CALL_FILTER}
        order by c.id desc limit $4`,
    ),
    countCalls: q(
      'count_calls',
      `select count(*)::integer as n, coalesce(max(c.id), 0)::text as max_id
         from ${s}.calls c where ${CALL_FILTER}`,
    ),
    retryOne: q(
      'retry_one',
      `select ${s}.retry_call($1, $2, coalesce($3, 'manual retry')) as done`,
    ),
    retryBatch: q(
      'retry_batch',
      `select b.id::text, ${s}.retry_call(b.id, $6, $7) as done
         from (select c.id from ${s}.calls c
                where ${CALL_FILTER} and c.id > $4::bigint and c.id <= $8::bigint
                order by c.id limit $5) b
        order by b.id`,
    ),
    cancelBatch: q(
      'cancel_batch',
      `select b.id::text, ${s}.cancel_call(b.id, $7, $6) as done
         from (select c.id from ${s}.calls c
                where ${CALL_FILTER} and c.id > $4::bigint and c.id <= $8::bigint
                order by c.id limit $5) b
        order by b.id`,
    ),
    stats: q(
      'stats',
      `with calls as (
         select c.function, c.status, count(*)::integer as n
           from ${s}.calls c
          where $1::float8 is null or c.created_at >= now() - make_interval(secs => $1::float8)
          group by 1, 2
       ), attempts as (
         select c.function, count(*)::integer as attempts,
                percentile_cont(0.5) within group (order by a.duration_ms) as p50,
                percentile_cont(0.9) within group (order by a.duration_ms) as p90,
                percentile_cont(0.99) within group (order by a.duration_ms) as p99
           from ${s}.attempts a join ${s}.calls c on c.id = a.call_id
          where $1::float8 is null or a.finished_at >= now() - make_interval(secs => $1::float8)
          group by 1
       )
       select f.function,
              coalesce((select jsonb_object_agg(calls.status, calls.n) from calls
                         where calls.function = f.function), '{}') as counts,
              coalesce(a.attempts, 0) as attempts, a.p50, a.p90, a.p99
         from (select function from calls union select function from attempts) f
         left join attempts a on a.function = f.function
        order by f.function`,
    ),
    listPolicies: q(
      'list_policies',
      `select p.name,
              array(select extract(epoch from d)::float8 * 1000 from unnest(p.delays) d) as delays_ms,
              extract(epoch from p.base)::float8 * 1000 as base_ms, p.factor,
              extract(epoch from p.cap)::float8 * 1000 as cap_ms, p.jitter, p.max_attempts,
              extract(epoch from p.max_age)::float8 * 1000 as max_age_ms, p.description,
              p.updated_at
         from ${s}.retry_policies p order by p.name`,
    ),
    // Changes a policy's limits and keeps its schedule.
    updatePolicy: q(
      'update_policy',
      `update ${s}.retry_policies p set
         jitter = coalesce($2::float8, p.jitter),
         max_attempts = coalesce($3::integer, p.max_attempts),
         max_age = case when $5::boolean then make_interval(secs => $4::float8) else p.max_age end,
         description = coalesce($6, p.description),
         updated_at = now()
       where p.name = $1
       returning p.name`,
    ),
    policyExists: q(
      'policy_exists',
      `select exists (select from ${s}.retry_policies where name = $1) as exists`,
    ),
    setPolicy: q(
      'set_policy',
      `insert into ${s}.retry_policies as p
         (name, delays, base, factor, cap, jitter, max_attempts, max_age, description)
       values ($1,
               case when $2::float8[] is null then null
                    else array(select make_interval(secs => d) from unnest($2::float8[]) d) end,
               make_interval(secs => $3::float8), $4::float8, make_interval(secs => $5::float8),
               coalesce($6::float8, 0), coalesce($7::integer, 25),
               make_interval(secs => $8::float8), $9)
       on conflict (name) do update set
         delays = excluded.delays, base = excluded.base, factor = excluded.factor,
         cap = excluded.cap,
         jitter = coalesce($6::float8, p.jitter),
         max_attempts = coalesce($7::integer, p.max_attempts),
         max_age = case when $10::boolean then excluded.max_age else p.max_age end,
         description = coalesce($9, p.description),
         updated_at = now()
       returning p.name`,
    ),
    callTimeline: q(
      'call_timeline',
      `select h.at, h.event, h.status, h.attempt, h.http_status, h.duration_ms, h.detail
         from ${s}.call_history h where h.call_id = $1
        order by h.at, h.attempt nulls first`,
    ),
  };
}
