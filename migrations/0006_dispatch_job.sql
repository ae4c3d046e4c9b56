-- dispatch adds its call's job to graphile-worker's jobs table itself
-- instead of through graphile_worker.add_job. add_job goes through
-- add_jobs, which handles what pgdispatch never uses (named queues, job
-- keys, flags) and cost about 400 µs per call on the bench machine: more
-- than the rest of a dispatch, and more than the application's own insert
-- and commit. The row is the one add_job writes for a job without queue,
-- key or flags, with the same notification; like claim_jobs (0005) this
-- relies on graphile-worker 0.17's table, which the package pins.

-- The job of one attempt of a call to `function_name`, creating the
-- function's task row the first time, as add_job would.
create function :"schema".insert_job(function_name text, payload json, run_at timestamptz,
                                     priority smallint)
returns bigint
language plpgsql as $$
declare
  v_task integer;
  v_job bigint;
begin
  select t.id into v_task from graphile_worker._private_tasks t
   where t.identifier = function_name;
  if not found then
    insert into graphile_worker._private_tasks (identifier) values (function_name)
    on conflict (identifier) do nothing;
    select t.id into strict v_task from graphile_worker._private_tasks t
     where t.identifier = function_name;
  end if;
  insert into graphile_worker._private_jobs (task_id, payload, run_at, max_attempts, priority)
  values (v_task, payload, coalesce(run_at, now()), :"schema".job_max_attempts(), priority)
  returning id into v_job;
  -- graphile-worker's own notification, in its own format.
  perform pg_notify('jobs:insert', format('{"r":%s,"count":1}', random()));
  return v_job;
end
$$;

-- As in 0002, with the job added by insert_job.
create or replace function :"schema".dispatch(function_name text, input jsonb,
                                              options jsonb default '{}')
returns bigint
language plpgsql as $$
declare
  s record;
  v_key text := options ->> 'idempotency_key';
  v_id bigint;
  v_job bigint;
begin
  s := :"schema".dispatch_settings(function_name, options, input);
  input := coalesce(input, 'null'::jsonb);
  if v_key is not null then
    select c.id into v_id from :"schema".calls c
     where c.function = function_name and c.idempotency_key = v_key;
    if found then
      return v_id;
    end if;
  end if;

  v_id := nextval(':"schema".calls_id_seq'::regclass);
  if v_key is null then
    v_job := :"schema".insert_job(
      function_name, json_build_object('id', v_id, 'attempt', 1, 'input', input),
      s.run_at, s.priority);
    insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                 next_attempt_at, job_id)
    values (v_id, function_name, input, s.retry_policy, s.max_attempts, s.priority,
            coalesce(s.run_at, now()), v_job);
    return v_id;
  end if;

  -- With a key, two transactions may race to insert it: the loser's
  -- subtransaction (job included) rolls back and it returns the winner's id.
  begin
    v_job := :"schema".insert_job(
      function_name, json_build_object('id', v_id, 'attempt', 1, 'input', input),
      s.run_at, s.priority);
    insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                 idempotency_key, next_attempt_at, job_id)
    values (v_id, function_name, input, s.retry_policy, s.max_attempts, s.priority, v_key,
            coalesce(s.run_at, now()), v_job);
  exception when unique_violation then
    select c.id into v_id from :"schema".calls c
     where c.function = function_name and c.idempotency_key = v_key;
  end;
  return v_id;
end
$$;
