-- The longest wait a policy can ask for: bounds a server's Retry-After.
create or replace function :"schema".retry_max_delay(p :"schema".retry_policies) returns interval
language sql immutable parallel safe as $$
  select coalesce(p.cap, (select max(d) from unnest(p.delays) d))
$$;
