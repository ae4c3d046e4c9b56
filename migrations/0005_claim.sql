-- The worker's own job loop. Jobs stay graphile-worker jobs (added with
-- graphile_worker.add_job, locked through locked_by/locked_at, attempts
-- counted, tasks named in _private_tasks); what changes is who claims them.
-- pgdispatch's worker claims a batch with one statement (src/db/queries.ts,
-- claimJobs) and completes nothing separately: record_attempts already
-- deletes the job in the transaction that records its outcome.

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
