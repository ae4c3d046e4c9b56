-- The graphile-worker task ids of a worker's functions, creating the rows a
-- function dispatched for the first time would get from add_job.
create or replace function :"schema".task_ids(names text[])
returns table (id integer, identifier text)
language sql as $$
  insert into graphile_worker._private_tasks (identifier)
  select unnest(names)
  on conflict (identifier) do nothing;
  select t.id, t.identifier from graphile_worker._private_tasks t where t.identifier = any(names);
$$;
