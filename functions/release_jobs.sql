-- Gives a job back to the queue, to run again now, when a worker stops
-- before its attempt finished (shutdown grace period over). The attempt is
-- not recorded; the history says why it will run again.
create or replace function :"schema".release_jobs(jobs jsonb, pool_id text, reason text)
returns integer
language plpgsql as $$
declare
  n integer;
begin
  with released as (
    update graphile_worker._private_jobs j
       set locked_at = null, locked_by = null, run_at = now()
      from jsonb_to_recordset(jobs) as x(job_id bigint, call_id bigint, attempt integer)
     where j.id = x.job_id and j.locked_by = pool_id
    returning x.call_id, x.attempt
  ), events as (
    insert into :"schema".call_events (call_id, event, attempt, reason, actor)
    select released.call_id, 'released', released.attempt, reason, pool_id from released
    returning 1
  )
  select count(*) into n from events;
  return n;
end
$$;
