-- Re-enables an endpoint. With replay, the calls that failed because it was
-- disabled (or while it was failing) since it was disabled run again.
create or replace function :"schema".enable_endpoint(endpoint_name text, replay boolean default false,
                                          actor text default current_user)
returns integer
language plpgsql as $$
declare
  e :"schema".endpoints;
  n integer := 0;
  c record;
begin
  select * into e from :"schema".endpoints where name = endpoint_name for update;
  if not found then
    raise exception using errcode = 'PD006',
      message = format('pgdispatch: unknown endpoint %L', endpoint_name);
  end if;
  update :"schema".endpoints
     set enabled = true, disabled_at = null, disabled_reason = null, failing_since = null,
         updated_at = now()
   where name = endpoint_name;
  if replay and e.disabled_at is not null then
    for c in
      select id from :"schema".calls
       where function = 'webhook' and input ->> 'endpoint' = endpoint_name
         and status = 'failed' and finished_at >= coalesce(e.failing_since, e.disabled_at)
       order by id
    loop
      if :"schema".retry_call(c.id, actor, format('replay after endpoint %s re-enabled', endpoint_name)) then
        n := n + 1;
      end if;
    end loop;
  end if;
  return n;
end
$$;
