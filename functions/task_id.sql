-- The id of the graphile-worker task of `function_name`, created the first time.
create or replace function :"schema".task_id(function_name text)
returns integer
language plpgsql as $$
declare
  v_task integer;
begin
  select t.id into v_task from graphile_worker._private_tasks t
   where t.identifier = function_name;
  if not found then
    insert into graphile_worker._private_tasks (identifier) values (function_name)
    on conflict (identifier) do nothing;
    select t.id into strict v_task from graphile_worker._private_tasks t
     where t.identifier = function_name;
  end if;
  return v_task;
end
$$;
