-- Registers a worker or refreshes its heartbeat. Returns false when the row
-- was missing: a new worker, or one presumed dead (and rescued) that was only
-- slow or cut off from the database.
create or replace function :"schema".worker_heartbeat(
  worker_id text, host text, pid integer, concurrency integer, functions text[], version text
) returns boolean
language plpgsql as $$
declare
  v_existed boolean;
begin
  update :"schema".workers w set heartbeat_at = now() where w.id = worker_id;
  v_existed := found;
  if not v_existed then
    insert into :"schema".workers (id, host, pid, concurrency, functions, version)
    values (worker_id, host, pid, concurrency, coalesce(functions, '{}'), version)
    on conflict (id) do update set heartbeat_at = now();
  end if;
  return v_existed;
end
$$;
