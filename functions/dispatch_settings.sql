create or replace function :"schema".dispatch_settings(
  function_name text, options jsonb, input jsonb,
  out retry_policy text, out max_attempts integer, out priority smallint, out run_at timestamptz
)
language plpgsql stable as $$
declare
  fn :"schema".functions;
  bad text;
begin
  if function_name is null then
    raise exception using errcode = 'PD001', message = 'pgdispatch: function name is null';
  end if;
  select * into fn from :"schema".functions f where f.name = function_name;
  if not found then
    raise exception using errcode = 'PD001',
      message = format('pgdispatch: unknown function %L', function_name),
      hint = 'Register it with dispatch.func() and start a worker (or call dispatch.migrate()) so the database knows it.';
  end if;
  options := coalesce(options, '{}');
  if options <> '{}' then
    if jsonb_typeof(options) <> 'object' then
      raise exception using errcode = 'PD003', message = 'pgdispatch: options must be a JSON object';
    end if;
    select k into bad from jsonb_object_keys(options) k
     where k not in ('run_at', 'idempotency_key', 'retry_policy', 'priority', 'max_attempts',
                     'trace_context')
     limit 1;
    if bad is not null then
      raise exception using errcode = 'PD003',
        message = format('pgdispatch: unknown option %L', bad),
        hint = 'Options are run_at, idempotency_key, retry_policy, priority, max_attempts and trace_context.';
    end if;
  end if;

  -- The one rule for idempotency keys, whether the call comes from
  -- TypeScript or SQL: a non-empty string of at most 255 characters. A
  -- number is refused rather than read as text (1 and "1" would be one key).
  if options ? 'idempotency_key' and options -> 'idempotency_key' <> 'null' then
    if jsonb_typeof(options -> 'idempotency_key') <> 'string' then
      raise exception using errcode = 'PD003',
        message = format('pgdispatch: idempotency_key must be a string, got a %s',
                         jsonb_typeof(options -> 'idempotency_key'));
    end if;
    if length(options ->> 'idempotency_key') not between 1 and 255 then
      raise exception using errcode = 'PD003',
        message = format('pgdispatch: idempotency_key must be 1 to 255 characters, got %s',
                         length(options ->> 'idempotency_key'));
    end if;
  end if;

  -- The function's and an endpoint's policies exist (foreign keys); only a
  -- policy named in the options needs looking up.
  retry_policy := coalesce(options ->> 'retry_policy',
                           :"schema".input_retry_policy(function_name, input),
                           fn.retry_policy);
  if options ? 'retry_policy'
     and not exists (select from :"schema".retry_policies p where p.name = retry_policy) then
    raise exception using errcode = 'PD002',
      message = format('pgdispatch: unknown retry policy %L', retry_policy),
      hint = format('See select name from %I.retry_policies', :'schema');
  end if;

  begin
    max_attempts := coalesce((options ->> 'max_attempts')::integer, fn.max_attempts);
    priority := coalesce((options ->> 'priority')::smallint, 0);
    run_at := (options ->> 'run_at')::timestamptz;
  exception when others then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: invalid option value: %s', sqlerrm);
  end;
  if max_attempts is not null and max_attempts < 1 then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: max_attempts must be at least 1, got %s', max_attempts);
  end if;
end
$$;
