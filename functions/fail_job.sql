-- A job whose attempt could not be recorded (the database stayed
-- unreachable, or its payload is not a pgdispatch call): unlock it to run
-- again later, with graphile-worker's own backoff, exp(attempts) seconds
-- capped at exp(10). Only touches a job the worker still holds.
create or replace function :"schema".fail_job(job_id bigint, worker text, message text)
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
