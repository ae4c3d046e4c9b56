-- Jobs locked by a live worker that does not know it holds them: a claim
-- whose reply was lost (committed, then the connection dropped). Rescue only
-- frees the jobs of dead workers, so the worker itself gives these back.
-- `held` is what it is running; `settled` keeps a claim still in flight out.
create or replace function :"schema".unlock_orphaned_jobs(worker text, held bigint[], settled interval)
returns integer
language sql as $$
  with unlocked as (
    update graphile_worker._private_jobs j
       set locked_at = null, locked_by = null
     where j.locked_by = unlock_orphaned_jobs.worker
       and j.locked_at < now() - settled
       and j.id <> all(held)
    returning 1
  )
  select count(*)::integer from unlocked
$$;
