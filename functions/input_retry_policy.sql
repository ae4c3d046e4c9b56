-- The retry policy a function's input implies, if any: a webhook call to an
-- endpoint uses the endpoint's policy.
create or replace function :"schema".input_retry_policy(function_name text, input jsonb) returns text
language sql stable as $$
  select e.retry_policy from :"schema".endpoints e
   where function_name = 'webhook' and e.name = input ->> 'endpoint'
$$;
