/** Reads of calls, history, workers, statistics and policies (the read model and the facade use them). */
import { CALL_FILTER, type Statements } from './named.js';

export const readStatements = ({ s, q }: Statements) => ({
  getCall: q(
    'get_call',
    `select id::text, function, input, status, attempts, retry_policy, max_attempts, priority,
            idempotency_key, created_at, next_attempt_at, finished_at, last_error, output
       from ${s}.calls where id = $1`,
  ),
  getAttempts: q(
    'get_attempts',
    `select call_id::text, attempt, started_at, finished_at, duration_ms, status, http_status,
            error, response, worker
       from ${s}.attempts where call_id = $1 order by attempt`,
  ),
  getHistory: q(
    'get_history',
    `select call_id::text, at, event, status, attempt, http_status, duration_ms, detail
       from ${s}.call_history where call_id = $1 order by at, attempt nulls first`,
  ),
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
  callTimeline: q(
    'call_timeline',
    `select h.at, h.event, h.status, h.attempt, h.http_status, h.duration_ms, h.detail
       from ${s}.call_history h where h.call_id = $1
      order by h.at, h.attempt nulls first`,
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
  policyExists: q(
    'policy_exists',
    `select exists (select from ${s}.retry_policies where name = $1) as exists`,
  ),
});
