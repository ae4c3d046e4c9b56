-- The worker's own job loop. Jobs stay graphile-worker jobs (added with
-- graphile_worker.add_job, locked through locked_by/locked_at, attempts
-- counted, tasks named in _private_tasks); what changes is who claims them.
-- pgdispatch's worker claims a batch with one statement (claim_jobs) and
-- completes nothing separately: record_attempts already deletes the job in
-- the transaction that records its outcome.

-- Claims up to `n` due jobs of the given tasks for `worker`, in
-- graphile-worker's order (priority, run_at), on its partial index for jobs
-- without a named queue (pgdispatch never names one). The scan starts at
-- (from_priority, from_run_at): just after the previous claim while a
-- backlog drains, so it does not wade through the dead index entries of
-- every job claimed since the last vacuum.
--
-- The index scan is forced: a queue table's statistics are usually wrong
-- (analyzed empty, then 10,000 jobs arrive), and with a handful of rows
-- expected the planner prefers a bitmap scan that reads and sorts every due
-- job for each claim: 4 ms instead of 0.3 ms at 10,000 due jobs. JIT is off
-- because a disabled plan node's cost can cross jit_above_cost, and compiling
-- this statement costs more than running it (150 ms on a Postgres with LLVM).
create function :"schema".claim_jobs(worker text, task_ids integer[], n integer,
                                      from_priority smallint, from_run_at timestamptz)
returns table (id text, task_id integer, payload json, priority smallint, run_at text)
language plpgsql
set enable_bitmapscan = off
set enable_seqscan = off
set jit = off
as $$
begin
  return query
  with due as (
    select j0.id from graphile_worker._private_jobs j0
     where j0.is_available = true and j0.job_queue_id is null
       and j0.run_at <= now() and j0.task_id = any(task_ids)
       and (j0.priority, j0.run_at) >= (from_priority, from_run_at)
     order by j0.priority, j0.run_at
     limit n
     for update skip locked
  ), claimed as (
    update graphile_worker._private_jobs j
       set attempts = j.attempts + 1, locked_by = worker, locked_at = now()
      from due
     where j.id = due.id
    returning j.id, j.task_id, j.payload, j.priority, j.run_at
  )
  select c.id::text, c.task_id, c.payload, c.priority, c.run_at::text
    from claimed c
   order by c.priority, c.run_at;
end
$$;

-- The graphile-worker task ids of a worker's functions, creating the rows a
-- function dispatched for the first time would get from add_job.
create function :"schema".task_ids(names text[])
returns table (id integer, identifier text)
language sql as $$
  insert into graphile_worker._private_tasks (identifier)
  select unnest(names)
  on conflict (identifier) do nothing;
  select t.id, t.identifier from graphile_worker._private_tasks t where t.identifier = any(names);
$$;

-- A job whose attempt could not be recorded (the database stayed
-- unreachable, or its payload is not a pgdispatch call): unlock it to run
-- again later, with graphile-worker's own backoff, exp(attempts) seconds
-- capped at exp(10). Only touches a job the worker still holds.
create function :"schema".fail_job(job_id bigint, worker text, message text)
returns boolean
language sql as $$
  with failed as (
    update graphile_worker._private_jobs j
       set last_error = message,
           run_at = greatest(now(), j.run_at) + exp(least(j.attempts, 10)) * interval '1 second',
           locked_by = null,
           locked_at = null
     where j.id = fail_job.job_id and j.locked_by = fail_job.worker
    returning 1
  )
  select count(*) > 0 from failed
$$;

-- Jobs locked by a live worker that does not know it holds them: a claim
-- whose reply was lost (committed, then the connection dropped). Rescue only
-- frees the jobs of dead workers, so the worker itself gives these back.
-- `held` is what it is running; `settled` keeps a claim still in flight out.
create function :"schema".unlock_orphaned_jobs(worker text, held bigint[], settled interval)
returns integer
language sql as $$
  with unlocked as (
    update graphile_worker._private_jobs j
       set locked_at = null, locked_by = null
     where j.locked_by = unlock_orphaned_jobs.worker
       and j.locked_at < now() - settled
       and j.id <> all(held)
    returning 1
  )
  select count(*)::integer from unlocked
$$;

-- Claimed jobs a worker never started (its buffer, on stop or when they
-- waited too long): unlocked as if never claimed, keeping their place in
-- the queue (run_at untouched), and other workers woken to take them.
create function :"schema".return_jobs(job_ids bigint[], worker text)
returns integer
language plpgsql as $$
declare
  n integer;
begin
  update graphile_worker._private_jobs j
     set locked_at = null, locked_by = null, attempts = greatest(j.attempts - 1, 0)
   where j.id = any(job_ids) and j.locked_by = worker;
  get diagnostics n = row_count;
  if n > 0 then
    -- graphile-worker's own notification, in its own format.
    perform pg_notify('jobs:insert', format('{"r":%s,"count":%s}', random(), n));
  end if;
  return n;
end
$$;
