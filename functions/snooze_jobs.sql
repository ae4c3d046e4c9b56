-- Puts a job back to run later without counting an attempt: the function
-- could not start (its destination is saturated), so nothing happened that
-- the history should hold. graphile-worker counted the fetch as one of the
-- job's own attempts; give that back too.
create or replace function :"schema".snooze_jobs(jobs jsonb, pool_id text)
returns integer
language sql as $$
  with snoozed as (
    update graphile_worker._private_jobs j
       set locked_at = null, locked_by = null,
           run_at = now() + make_interval(secs => x.delay_ms / 1000.0),
           attempts = greatest(j.attempts - 1, 0)
      from jsonb_to_recordset(jobs) as x(job_id bigint, delay_ms double precision)
     where j.id = x.job_id and j.locked_by = pool_id
    returning 1
  )
  select count(*)::integer from snoozed
$$;
