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
--
-- For workflow tasks (`workflow_task_ids`) each job brings its call's steps
-- (workflow_state), so a replay needs no query of its own.
create or replace function :"schema".claim_jobs(worker text, task_ids integer[], n integer,
                                     from_priority smallint, from_run_at timestamptz,
                                     workflow_task_ids integer[] default '{}')
returns table (id text, task_id integer, payload json, priority smallint, run_at text,
               workflow json)
language plpgsql
set enable_bitmapscan = off
set enable_seqscan = off
set jit = off
set plan_cache_mode = force_generic_plan
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
     where j.id = any(array(select due.id from due))
    returning j.id, j.task_id, j.payload, j.priority, j.run_at
  )
  select c.id::text, c.task_id, c.payload, c.priority, c.run_at::text,
         case when c.task_id = any(workflow_task_ids) then
           :"schema".workflow_state(:"schema".job_call_id(c.payload)) end
    from claimed c
   order by c.priority, c.run_at;
end
$$;
