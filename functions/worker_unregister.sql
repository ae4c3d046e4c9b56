create or replace function :"schema".worker_unregister(worker_id text) returns void
language sql as $$
  delete from :"schema".workers w where w.id = worker_id
$$;
