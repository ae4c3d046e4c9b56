-- The job of one attempt, with the notification optional (`notify_ms`: null
-- none, 0 graphile-worker's, else coalesced over that window). A new name,
-- not a new signature of insert_job: the bodies of the previous release keep
-- calling that one while an upgrade runs.
create or replace function :"schema".insert_job_notify(function_name text, payload json, run_at timestamptz,
                                            priority smallint, notify_ms integer)
returns bigint
language plpgsql as $$
declare
  v_job bigint;
begin
  insert into graphile_worker._private_jobs (task_id, payload, run_at, max_attempts, priority)
  values (:"schema".task_id(function_name), payload, coalesce(run_at, now()),
          :"schema".job_max_attempts(), priority)
  returning id into v_job;
  perform :"schema".notify_jobs(1, notify_ms);
  return v_job;
end
$$;
