-- Dispatches a call with a debounce key (options debounce_key and debounce_ms,
-- besides dispatch()'s own): see the debounces table.
create or replace function :"schema".dispatch_debounced(function_name text, input jsonb, options jsonb)
returns bigint
language plpgsql as $$
declare
  v_key text := options ->> 'debounce_key';
  v_ms double precision;
  v_at timestamptz;
  d :"schema".debounces;
  c :"schema".calls;
  v_id bigint;
begin
  if v_key is null or length(v_key) not between 1 and 256 then
    raise exception using errcode = 'PD003',
      message = 'pgdispatch: debounce_key must be a string of 1-256 characters';
  end if;
  begin
    v_ms := (options ->> 'debounce_ms')::double precision;
  exception when others then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: debounce_ms must be a number, got %s', options -> 'debounce_ms');
  end;
  if v_ms is null or not v_ms > 0 then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: debounce_ms must be more than 0, got %s', coalesce(options ->> 'debounce_ms', 'none'));
  end if;
  if options ? 'run_at' or options ? 'idempotency_key' then
    raise exception using errcode = 'PD003',
      message = 'pgdispatch: a debounced call takes neither run_at nor idempotency_key';
  end if;
  options := options - 'debounce_key' - 'debounce_ms';
  -- Checks the function and the options before anything is written.
  perform :"schema".dispatch_settings(function_name, options - 'notify', input);
  input := coalesce(input, 'null'::jsonb);
  v_at := clock_timestamp() + make_interval(secs => v_ms / 1000.0);

  -- The key's row, locked: dispatches of one key take turns.
  insert into :"schema".debounces as d0 (function, key, call_id, run_at)
  values (function_name, v_key, 0, v_at)
  on conflict (function, key) do update set run_at = d0.run_at
  returning * into d;
  if d.call_id <> 0 then
    select * into c from :"schema".calls c0 where c0.id = d.call_id for update;
    if found and c.status = 'pending' and c.attempts = 0 then
      -- Still waiting: it takes this input and waits again.
      update graphile_worker._private_jobs j
         set payload = :"schema".job_payload(c.id, 1, input, c.trace_context), run_at = v_at
       where j.id = c.job_id and j.locked_at is null;
      if found then
        update :"schema".calls c1 set input = dispatch_debounced.input, next_attempt_at = v_at
         where c1.id = c.id;
        update :"schema".debounces d1 set run_at = v_at, dispatches = d1.dispatches + 1
         where d1.function = function_name and d1.key = v_key;
        return c.id;
      end if;
    end if;
  end if;
  -- A new burst (or the last call already started): a new call.
  v_id := :"schema".dispatch(function_name, input, options || jsonb_build_object('run_at', v_at));
  update :"schema".debounces d1 set call_id = v_id, run_at = v_at, dispatches = 1
   where d1.function = function_name and d1.key = v_key;
  insert into :"schema".call_events (call_id, event, status, reason, actor)
  values (v_id, 'debounced', 'pending',
          format('key %s: runs %s ms after the last dispatch of the key, with its input', v_key, v_ms),
          'dispatch');
  return v_id;
end
$$;
