-- Dispatches one call: the call row and its graphile-worker job, in the
-- caller's transaction. Returns the call id; with an idempotency key already
-- used for this function, returns that call's id and adds nothing.
create or replace function :"schema".dispatch(function_name text, input jsonb,
                                              options jsonb default '{}')
returns bigint
language plpgsql as $$
declare
  s record;
  v_key text := options ->> 'idempotency_key';
  v_notify integer := :"schema".notify_window(options);
  v_trace jsonb := options -> 'trace_context';
  v_id bigint;
  v_job bigint;
begin
  s := :"schema".dispatch_settings(function_name, options - 'notify', input);
  input := coalesce(input, 'null'::jsonb);
  if v_key is not null then
    select k.call_id into v_id from :"schema".call_keys k
     where k.function = function_name and k.idempotency_key = v_key;
    if found then
      return v_id;
    end if;
  end if;

  v_id := :"schema".call_id();
  if v_key is null then
    v_job := :"schema".insert_job_notify(
      function_name, :"schema".job_payload(v_id, 1, input, v_trace),
      s.run_at, s.priority, v_notify);
    insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                 next_attempt_at, job_id, trace_context)
    values (v_id, function_name, input, s.retry_policy, s.max_attempts, s.priority,
            coalesce(s.run_at, now()), v_job, v_trace);
    return v_id;
  end if;

  -- With a key, two transactions may race to insert it: the loser's
  -- subtransaction rolls back and it returns the winner's id. The key's
  -- row is unique in call_keys (a partitioned table cannot hold the index).
  begin
    insert into :"schema".call_keys (function, idempotency_key, call_id)
    values (function_name, v_key, v_id);
    v_job := :"schema".insert_job_notify(
      function_name, :"schema".job_payload(v_id, 1, input, v_trace),
      s.run_at, s.priority, v_notify);
    insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                 idempotency_key, next_attempt_at, job_id, trace_context)
    values (v_id, function_name, input, s.retry_policy, s.max_attempts, s.priority, v_key,
            coalesce(s.run_at, now()), v_job, v_trace);
  exception when unique_violation then
    select k.call_id into v_id from :"schema".call_keys k
     where k.function = function_name and k.idempotency_key = v_key;
  end;
  return v_id;
end
$$;
