-- Claimed jobs a worker never started (its buffer, on stop or when they
-- waited too long): unlocked as if never claimed, keeping their place in
-- the queue (run_at untouched), and other workers woken to take them.
create or replace function :"schema".return_jobs(job_ids bigint[], worker text)
returns integer
language plpgsql as $$
declare
  n integer;
begin
  update graphile_worker._private_jobs j
     set locked_at = null, locked_by = null, attempts = greatest(j.attempts - 1, 0)
   where j.id = any(job_ids) and j.locked_by = worker;
  get diagnostics n = row_count;
  if n > 0 then
    -- graphile-worker's own notification, in its own format.
    perform pg_notify('jobs:insert', format('{"r":%s,"count":%s}', random(), n));
  end if;
  return n;
end
$$;
