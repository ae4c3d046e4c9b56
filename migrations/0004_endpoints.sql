-- Webhook endpoints: a named destination with its own secrets, retry policy,
-- timeouts and health. A call of the built-in `webhook` function addresses
-- one by `{"endpoint": "<name>"}`; the row's settings override the instance's.

create table :"schema".endpoints (
  name text primary key,
  url text not null,
  -- Signing secrets (whsec_…), newest first. Every secret signs each request,
  -- so a receiver that knows either accepts it during a rotation.
  secrets text[] not null default '{}',
  retry_policy text not null default 'webhook'
    references :"schema".retry_policies (name) on update cascade,
  -- Static headers sent with every request to this endpoint.
  headers jsonb not null default '{}',
  -- Null means the instance's setting.
  connect_timeout_ms integer check (connect_timeout_ms > 0),
  headers_timeout_ms integer check (headers_timeout_ms > 0),
  total_timeout_ms integer check (total_timeout_ms > 0),
  max_response_bytes integer check (max_response_bytes >= 0),
  allow_private_networks boolean,
  enabled boolean not null default true,
  disabled_at timestamptz,
  disabled_reason text,
  -- Start of the current run of failures (null while healthy): an endpoint
  -- failing continuously for `disable_after` is disabled.
  failing_since timestamptz,
  last_success_at timestamptz,
  last_failure_at timestamptz,
  disable_after interval not null default interval '5 days' check (disable_after > interval '0'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint endpoints_name check (name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  constraint endpoints_url check (url ~ '^https?://'),
  constraint endpoints_headers check (jsonb_typeof(headers) = 'object'),
  constraint endpoints_secrets check (array_position(secrets, null) is null),
  constraint endpoints_disabled check (enabled = (disabled_at is null))
);

comment on column :"schema".endpoints.secrets is
  'Signing secrets, newest first; never logged nor copied into attempts.';

-- A webhook call to an endpoint follows the endpoint's retry policy unless
-- the dispatch options name one.
create or replace function :"schema".input_retry_policy(function_name text, input jsonb) returns text
language sql stable as $$
  select e.retry_policy from :"schema".endpoints e
   where function_name = 'webhook' and e.name = input ->> 'endpoint'
$$;

-- What workers need to send to an endpoint, in one read.
create function :"schema".endpoint_for_delivery(endpoint_name text)
returns setof :"schema".endpoints
language sql stable as $$
  select * from :"schema".endpoints where name = endpoint_name
$$;

-- Health bookkeeping after an attempt. Writes only when the state changes
-- (first failure of a run, first success after failures), so a busy healthy
-- endpoint costs nothing here. Returns the reason when this failure disabled
-- the endpoint.
create function :"schema".endpoint_attempted(endpoint_name text, ok boolean, gone boolean default false)
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

-- Re-enables an endpoint. With replay, the calls that failed because it was
-- disabled (or while it was failing) since it was disabled run again.
create function :"schema".enable_endpoint(endpoint_name text, replay boolean default false,
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
