-- Creates or changes a schedule (the TypeScript API and the CLI). Only the
-- fields given change; `enabled` null keeps an existing row's flag, so a
-- deploy declaring its schedules never re-enables one an operator disabled.
create or replace function :"schema".schedule_set(
  schedule_name text, function_name text, cron text, timezone text, input jsonb,
  options jsonb, enabled boolean, catch_up integer, description text
) returns :"schema".schedules
language plpgsql as $$
declare
  s :"schema".schedules;
begin
  if function_name is not null
     and not exists (select from :"schema".functions f where f.name = function_name) then
    raise exception using errcode = 'PD001',
      message = format('pgdispatch: unknown function %L', function_name),
      hint = 'Register it with dispatch.func() and start a worker (or call dispatch.migrate()) so the database knows it.';
  end if;
  update :"schema".schedules s0 set
    function = coalesce(function_name, s0.function),
    cron = coalesce(schedule_set.cron, s0.cron),
    timezone = coalesce(schedule_set.timezone, s0.timezone),
    input = coalesce(schedule_set.input, s0.input),
    options = coalesce(schedule_set.options, s0.options),
    enabled = coalesce(schedule_set.enabled, s0.enabled),
    catch_up = coalesce(schedule_set.catch_up, s0.catch_up),
    description = coalesce(schedule_set.description, s0.description)
   where s0.name = schedule_name
  returning * into s;
  if found then
    return s;
  end if;
  if function_name is null or cron is null then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: schedule %L does not exist: a new schedule needs a function and a cron expression', schedule_name);
  end if;
  -- Two deploys declaring the same new schedule at once: the second updates.
  begin
    insert into :"schema".schedules (name, function, cron, timezone, input, options, enabled,
                                     catch_up, description)
    values (schedule_name, function_name, cron, coalesce(timezone, 'UTC'),
            coalesce(input, 'null'), coalesce(options, '{}'), coalesce(enabled, true),
            coalesce(catch_up, 0), description)
    returning * into s;
  exception when unique_violation then
    return :"schema".schedule_set(schedule_name, function_name, cron, timezone, input, options,
                                  enabled, catch_up, description);
  end;
  return s;
end
$$;
