-- The retry policy a function's input implies, if any: a webhook call to an
-- endpoint uses the endpoint's policy. PL/pgSQL, so its query is planned
-- once per session (a SQL function that reads a table is not inlined, and
-- was planned again on every dispatch).
create or replace function :"schema".input_retry_policy(function_name text, input jsonb) returns text
language plpgsql stable as $$
begin
  if function_name is distinct from 'webhook' then
    return null;
  end if;
  return (select e.retry_policy from :"schema".endpoints e where e.name = input ->> 'endpoint');
end
$$;
