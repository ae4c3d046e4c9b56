-- Gives back the jobs of lost workers: those whose heartbeat is older than
-- `lost_after`, and ids holding our jobs for that long that never registered
-- (a process killed between locking its first batch and its first heartbeat).
-- Each call held gets a `worker_lost` event; the jobs are unlocked with
-- graphile-worker's own force_unlock_workers and keep their run_at, which is
-- in the past, so they run ahead of newer work. One rescuer at a time: the
-- others skip this round rather than queue behind the lock.
create or replace function :"schema".rescue_lost_workers(lost_after interval, rescuer text)
returns table (worker_id text, host text, pid integer, heartbeat_at timestamptz, jobs integer)
language plpgsql as $$
declare
  v_lost text[];
begin
  if not pg_try_advisory_xact_lock(hashtext(format('pgdispatch:rescue:%s', :'schema'))) then
    return;
  end if;

  select coalesce(array_agg(w.id), '{}') into v_lost
    from (select w0.id from :"schema".workers w0
           where w0.heartbeat_at < now() - lost_after and w0.id is distinct from rescuer
             for update skip locked) w;

  select v_lost || coalesce(array_agg(o.locked_by), '{}') into v_lost
    from (select j.locked_by
            from graphile_worker._private_jobs j
            join :"schema".calls c on c.id = :"schema".job_call_id(j.payload)
           where j.locked_by is not null
             and j.locked_by is distinct from rescuer
             and not (j.locked_by = any(v_lost))
             and not exists (select from :"schema".workers w where w.id = j.locked_by)
           group by j.locked_by
          having max(j.locked_at) < now() - lost_after) o;

  if cardinality(v_lost) = 0 then
    return;
  end if;

  insert into :"schema".call_events (call_id, event, attempt, reason, actor)
  select c.id, 'worker_lost', (j.payload ->> 'attempt')::integer,
         format(case when exists (select from :"schema".workers w where w.id = j.locked_by)
                     then 'worker %s missed its heartbeats while holding the attempt'
                     else 'worker %s held the attempt and never sent a heartbeat' end,
                j.locked_by),
         rescuer
    from graphile_worker._private_jobs j
    join :"schema".calls c on c.id = :"schema".job_call_id(j.payload)
   where j.locked_by = any(v_lost);

  return query
  select x.id, w.host, w.pid, w.heartbeat_at,
         (select count(*)::integer from graphile_worker._private_jobs j where j.locked_by = x.id)
    from unnest(v_lost) x(id)
    left join :"schema".workers w on w.id = x.id;

  perform graphile_worker.force_unlock_workers(v_lost);
  delete from :"schema".workers w where w.id = any(v_lost);
  -- Idle workers wake on this rather than on their next poll.
  perform pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}');
end
$$;
