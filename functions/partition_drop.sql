-- Retention by partition: drops the oldest day whose calls all finished
-- before now() - older_than, with its partitions of calls, attempts,
-- call_events and steps (detached, then dropped; no row is deleted, so next
-- to no WAL) and its idempotency keys. A day with a call not finished, or
-- finished within the window, is kept: prune(kept_only) takes its finished
-- calls one batch at a time. Never today, nor the newest day (new calls
-- may go there). One maintainer at a time (the advisory lock), and a lock
-- it cannot get within lock_ms is given up until the next round. Returns
-- the day dropped, or null.
create or replace function :"schema".partition_drop(older_than interval, lock_ms integer default 500)
returns integer
language plpgsql as $$
declare
  v_schema text := :'schema';
  v_cutoff timestamptz := now() - older_than;
  v_today integer := (now() at time zone 'UTC')::date - date '1970-01-01';
  v_day integer;
  v_kept boolean;
  v_table text;
begin
  if older_than is null or older_than < interval '0' then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: older_than must be a positive interval, got %s', older_than);
  end if;
  if not pg_try_advisory_xact_lock(hashtext(v_schema || ':partitions')) then
    return null;
  end if;
  for v_day in
    select p.day from :"schema".partition_days p
     where p.day < v_today
       and p.day < (select max(n.day) from :"schema".partition_days n)
       -- Days whose end is past the window.
       and ((date '1970-01-01' + p.day + 1)::timestamp at time zone 'UTC') <= v_cutoff
     order by p.day
  loop
    -- A first look without locks: a day with a call still to finish is kept.
    -- The BRIN index on finished_at answers it from the block ranges that
    -- hold an unfinished or recent call, not by reading the whole day.
    perform set_config('enable_seqscan', 'off', true);
    execute format('select exists (select from %I.%I c where c.finished_at is null or c.finished_at >= $1)',
                   v_schema, :"schema".partition_name('calls', v_day))
      into v_kept using v_cutoff;
    continue when v_kept;
    -- The parents' locks, in the order dispatch and recording take them,
    -- then the look again: no call can come back to life (a manual retry)
    -- between it and the drop.
    perform set_config('enable_seqscan', 'on', true);
    perform set_config('lock_timeout', lock_ms || 'ms', true);
    begin
      execute format('lock table %1$I.calls, %1$I.attempts, %1$I.call_events, %1$I.steps in access exclusive mode',
                     v_schema);
    exception when lock_not_available then
      raise notice 'pgdispatch: partition_drop: the tables were busy for % ms; the day waits for the next round', lock_ms;
      return null;
    end;
    perform set_config('enable_seqscan', 'off', true);
    execute format('select exists (select from %I.%I c where c.finished_at is null or c.finished_at >= $1)',
                   v_schema, :"schema".partition_name('calls', v_day))
      into v_kept using v_cutoff;
    perform set_config('enable_seqscan', 'on', true);
    if v_kept then
      return null;
    end if;
    foreach v_table in array array['steps', 'attempts', 'call_events', 'calls'] loop
      execute format('alter table %1$I.%2$I detach partition %1$I.%3$I',
                     v_schema, v_table, :"schema".partition_name(v_table, v_day));
      execute format('drop table %I.%I', v_schema, :"schema".partition_name(v_table, v_day));
    end loop;
    delete from :"schema".call_keys k
     where k.call_id >= v_day::bigint << 33 and k.call_id < (v_day + 1)::bigint << 33;
    delete from :"schema".partition_days p where p.day = v_day;
    return v_day;
  end loop;
  return null;
end
$$;
