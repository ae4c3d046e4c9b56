-- The job of one attempt of a call to `function_name`, creating the
-- function's task row the first time, as add_job would, and notifying as
-- add_job does. The previous release's function bodies call it by this name.
create or replace function :"schema".insert_job(function_name text, payload json,
                                                run_at timestamptz, priority smallint)
returns bigint
language plpgsql as $$
begin
  return :"schema".insert_job_notify(function_name, payload, run_at, priority, 0);
end
$$;
