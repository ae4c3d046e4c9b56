-- Dispatches one call with a flow-control key (options flow_key and
-- concurrency_limit and/or rate_limit with rate_interval_ms, besides
-- dispatch()'s own): it runs when its key's limits allow. Returns the call id.
create or replace function :"schema".dispatch_keyed(function_name text, input jsonb, options jsonb)
returns bigint
language plpgsql as $$
declare
  v_key text := options ->> 'flow_key';
  v_limit integer;
  v_rate integer;
  v_rate_ms double precision;
  v_idem text := options ->> 'idempotency_key';
  s record;
  v_id bigint;
begin
  if v_key is null or length(v_key) not between 1 and 256 then
    raise exception using errcode = 'PD003',
      message = 'pgdispatch: flow_key must be a string of 1-256 characters';
  end if;
  begin
    v_limit := (options ->> 'concurrency_limit')::integer;
    v_rate := (options ->> 'rate_limit')::integer;
    v_rate_ms := (options ->> 'rate_interval_ms')::double precision;
  exception when others then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: invalid flow-control option: %s', sqlerrm);
  end;
  if options ? 'concurrency_limit' and (v_limit is null or v_limit < 1) then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: concurrency_limit must be at least 1, got %s', options -> 'concurrency_limit');
  end if;
  if (options ? 'rate_limit' or options ? 'rate_interval_ms')
     and (v_rate is null or v_rate < 1 or v_rate_ms is null or not v_rate_ms > 0) then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: a rate limit needs rate_limit >= 1 and rate_interval_ms > 0, got %s and %s',
                       coalesce(options ->> 'rate_limit', 'none'), coalesce(options ->> 'rate_interval_ms', 'none'));
  end if;
  if v_limit is null and v_rate is null then
    raise exception using errcode = 'PD003',
      message = 'pgdispatch: a flow_key needs concurrency_limit or rate_limit';
  end if;
  -- A keyed call's job is inserted when its key lets it start (flow_promote),
  -- which wakes the workers itself: no notify window applies here.
  options := options - 'flow_key' - 'concurrency_limit' - 'rate_limit' - 'rate_interval_ms' - 'notify';
  s := :"schema".dispatch_settings(function_name, options, input);
  input := coalesce(input, 'null'::jsonb);

  -- The key's row lock orders every dispatch and slot change of the key.
  insert into :"schema".flow_keys as k (key, concurrency_limit, rate_limit, rate_interval)
  values (v_key, v_limit, v_rate, make_interval(secs => v_rate_ms / 1000.0))
  on conflict (key) do update set
    concurrency_limit = excluded.concurrency_limit,
    rate_limit = excluded.rate_limit,
    rate_interval = excluded.rate_interval,
    updated_at = case when (k.concurrency_limit, k.rate_limit, k.rate_interval)
                           is distinct from
                           (excluded.concurrency_limit, excluded.rate_limit, excluded.rate_interval)
                      then now() else k.updated_at end;

  if v_idem is not null then
    select k.call_id into v_id from :"schema".call_keys k
     where k.function = function_name and k.idempotency_key = v_idem;
    if found then
      return v_id;
    end if;
  end if;
  v_id := :"schema".call_id();
  if v_idem is not null then
    -- Unique per function (call_keys): a second call with the key fails here.
    insert into :"schema".call_keys (function, idempotency_key, call_id)
    values (function_name, v_idem, v_id);
  end if;
  insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                               idempotency_key, next_attempt_at, trace_context)
  values (v_id, function_name, input, s.retry_policy, s.max_attempts, s.priority, v_idem,
          coalesce(s.run_at, now()), options -> 'trace_context');
  insert into :"schema".flow_waits (call_id, key, reason, not_before)
  values (v_id, v_key, case when v_limit is null then 'rate' else 'concurrency' end, s.run_at);
  perform :"schema".flow_promote(v_key);
  -- The history says why a call did not start at once.
  if exists (select from :"schema".flow_waits w where w.call_id = v_id and w.not_before is null) then
    insert into :"schema".call_events (call_id, event, status, reason, actor)
    values (v_id, 'waiting', 'pending',
            format('for a concurrency slot of %s (limit %s)', v_key, v_limit), 'dispatch');
  elsif v_rate is not null then
    perform from :"schema".calls c where c.id = v_id and c.next_attempt_at > now();
    if found then
      insert into :"schema".call_events (call_id, event, status, reason, actor)
      select v_id, 'rate_limited', 'pending',
             format('key %s allows %s starts per %s: starts at %s', v_key, v_rate,
                    make_interval(secs => v_rate_ms / 1000.0), c.next_attempt_at), 'dispatch'
        from :"schema".calls c where c.id = v_id;
    end if;
  end if;
  return v_id;
end
$$;
