-- Health bookkeeping after an attempt. Writes only when the state changes
-- (first failure of a run, first success after failures), so a busy healthy
-- endpoint costs nothing here. Returns the reason when this failure disabled
-- the endpoint.
create or replace function :"schema".endpoint_attempted(endpoint_name text, ok boolean, gone boolean default false)
returns text
language plpgsql as $$
declare
  e :"schema".endpoints;
  v_reason text;
begin
  select * into e from :"schema".endpoints where name = endpoint_name for update;
  if not found then
    return null;
  end if;
  if ok then
    if e.failing_since is not null or e.last_success_at is null
       or e.last_success_at < now() - interval '1 minute' then
      update :"schema".endpoints
         set failing_since = null, last_success_at = now()
       where name = endpoint_name;
    end if;
    return null;
  end if;
  if gone then
    v_reason := 'the endpoint answered 410 Gone';
  elsif e.failing_since is not null and e.failing_since < now() - e.disable_after then
    v_reason := format('failing continuously since %s (disable_after %s)', e.failing_since, e.disable_after);
  end if;
  if v_reason is not null and e.enabled then
    update :"schema".endpoints
       set enabled = false, disabled_at = now(), disabled_reason = v_reason,
           last_failure_at = now(), failing_since = coalesce(failing_since, now()), updated_at = now()
     where name = endpoint_name;
    return v_reason;
  end if;
  if e.failing_since is null then
    update :"schema".endpoints
       set failing_since = now(), last_failure_at = now()
     where name = endpoint_name;
  end if;
  return null;
end
$$;
