-- Dispatches a batch of calls to one function in one statement. `inputs` is
-- a JSON array; the ids come back in the order of the inputs.
create or replace function :"schema".dispatch_many(function_name text, inputs jsonb,
                                                   options jsonb default '{}')
returns setof bigint
language plpgsql as $$
declare
  s record;
  v_task integer;
  v_count integer;
  v_notify integer := :"schema".notify_window(options);
begin
  if jsonb_typeof(inputs) is distinct from 'array' then
    raise exception using errcode = 'PD003', message = 'pgdispatch: inputs must be a JSON array';
  end if;
  if options ? 'idempotency_key' then
    raise exception using errcode = 'PD003',
      message = 'pgdispatch: idempotency_key is per call; dispatch_many does not take one';
  end if;
  s := :"schema".dispatch_settings(function_name, options - 'notify', null);
  v_count := jsonb_array_length(inputs);
  if v_count = 0 then
    return;
  end if;
  v_task := :"schema".task_id(function_name);
  return query
  with items as (
    -- call_id() with its day read once for the batch, not once per row.
    select (select :"schema".call_day_base()) + nextval(':"schema".calls_id_seq'::regclass) % 8589934592 as id,
           e.value, e.ord
      from jsonb_array_elements(inputs) with ordinality e(value, ord)
  ), jobs as (
    -- In input order, so that job ids (graphile-worker's tie-break) follow it.
    insert into graphile_worker._private_jobs (task_id, payload, run_at, max_attempts, priority)
    select v_task, :"schema".job_payload(i.id, 1, i.value, options -> 'trace_context'),
           coalesce(s.run_at, now()), :"schema".job_max_attempts(), s.priority
      from items i order by i.ord
    returning id as job_id, (payload ->> 'id')::bigint as call_id
  ), inserted as (
    insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                 next_attempt_at, job_id, trace_context)
    select i.id, function_name, i.value,
           coalesce(options ->> 'retry_policy',
                    -- input_retry_policy, as a subquery of this statement's
                    -- plan: called per row, the function's own query was
                    -- planned again for every row. Only webhook inputs imply
                    -- a policy.
                    case when function_name = 'webhook'
                         then (select e.retry_policy from :"schema".endpoints e
                                where e.name = i.value ->> 'endpoint') end,
                    s.retry_policy),
           s.max_attempts, s.priority,
           coalesce(s.run_at, now()), jobs.job_id, options -> 'trace_context'
      from items i join jobs on jobs.call_id = i.id
  )
  -- Every item is inserted (no key can conflict): the ids, in input order.
  select i.id from items i order by i.ord;
  perform :"schema".notify_jobs(v_count, v_notify);
end
$$;
