-- Operations: live workers and their heartbeats, rescue of a dead worker's
-- calls, retention. graphile-worker alone leaves a dead worker's jobs locked
-- for 4 hours; here any live worker notices a missed heartbeat and gives the
-- jobs back within seconds.

create table :"schema".workers (
  -- graphile-worker's pool id: what this worker's jobs are locked_by.
  id text primary key,
  host text not null,
  pid integer not null,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  concurrency integer not null,
  functions text[] not null default '{}',
  version text
);
create index workers_heartbeat_at on :"schema".workers (heartbeat_at);

comment on table :"schema".workers is
  'Live workers. A row whose heartbeat_at is older than the rescue threshold belongs to a dead worker: the next rescue gives its jobs back and deletes it.';

-- Registers a worker or refreshes its heartbeat. Returns false when the row
-- was missing: a new worker, or one presumed dead (and rescued) that was only
-- slow or cut off from the database.
create function :"schema".worker_heartbeat(
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

create function :"schema".worker_unregister(worker_id text) returns void
language sql as $$
  delete from :"schema".workers w where w.id = worker_id
$$;

-- The call a graphile-worker job runs, or null for a job that is not ours.
-- Through the primary key, so rescue stays cheap however many calls exist.
create function :"schema".job_call_id(payload json) returns bigint
language sql immutable parallel safe as $$
  select case when json_typeof(payload -> 'id') = 'number'
              and json_typeof(payload -> 'attempt') = 'number'
         then (payload ->> 'id')::bigint end
$$;

-- Gives back the jobs of lost workers: those whose heartbeat is older than
-- `lost_after`, and ids holding our jobs for that long that never registered
-- (a process killed between locking its first batch and its first heartbeat).
-- Each call held gets a `worker_lost` event; the jobs are unlocked with
-- graphile-worker's own force_unlock_workers and keep their run_at, which is
-- in the past, so they run ahead of newer work. One rescuer at a time: the
-- others skip this round rather than queue behind the lock.
create function :"schema".rescue_lost_workers(lost_after interval, rescuer text)
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

-- Deletes finished calls (their attempts and events go by cascade) that
-- finished before now() - older_than, at most batch_size per call, so no
-- statement holds locks for long; callers loop until it returns less than
-- batch_size.
create function :"schema".prune(older_than interval, batch_size integer default 1000)
returns integer
language plpgsql as $$
declare
  n integer;
begin
  if older_than is null or older_than < interval '0' then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: older_than must be a positive interval, got %s', older_than);
  end if;
  if batch_size is null or batch_size < 1 then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: batch_size must be at least 1, got %s', batch_size);
  end if;
  with doomed as (
    select c.id from :"schema".calls c
     where c.finished_at < now() - older_than
       and c.status in ('succeeded', 'failed', 'cancelled')
     -- No order: any old rows will do, and the BRIN index cannot sort.
     limit batch_size
       for update skip locked
  ), deleted as (
    delete from :"schema".calls c using doomed where c.id = doomed.id returning 1
  )
  select count(*) into n from deleted;
  return n;
end
$$;
