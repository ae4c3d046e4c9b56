-- The job of one attempt of a call to `function_name`, creating the
-- function's task row the first time, as add_job would.
create or replace function :"schema".insert_job(function_name text, payload json,
                                                run_at timestamptz, priority smallint)
returns bigint
language plpgsql as $$
declare
  v_job bigint;
begin
  insert into graphile_worker._private_jobs (task_id, payload, run_at, max_attempts, priority)
  values (:"schema".task_id(function_name), payload, coalesce(run_at, now()),
          :"schema".job_max_attempts(), priority)
  returning id into v_job;
  -- graphile-worker's own notification, in its own format.
  perform pg_notify('jobs:insert', format('{"r":%s,"count":1}', random()));
  return v_job;
end
$$;
