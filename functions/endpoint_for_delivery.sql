-- What workers need to send to an endpoint, in one read.
create or replace function :"schema".endpoint_for_delivery(endpoint_name text)
returns setof :"schema".endpoints
language sql stable as $$
  select * from :"schema".endpoints where name = endpoint_name
$$;
