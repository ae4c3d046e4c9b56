-- Retention by partition, first step: picks the oldest day whose calls all
-- finished before now() - older_than and marks it retiring (see
-- migrations/0050_partition_retiring.sql); the caller then detaches the
-- day's partitions concurrently (partition_attached lists them) and calls
-- partition_retired_drop. The mark is a lease: while a day marked within
-- the last five minutes waits, another maintainer is on it and this returns
-- null; an older mark, left by a round that did not finish, is taken over
-- and its day comes first. One maintainer at a time (the advisory lock,
-- shared with partitions_create). A day with a
-- call not finished, or finished within the window, is kept: prune(kept_only)
-- takes its finished calls one batch at a time. Never today, nor the newest
-- day (new calls may go there). Returns the day, or null.
--
-- The mark waits for the manual retries in flight (retry_call holds the
-- day's row for share), and the look after it sees what they did; a later
-- retry sees the mark and is refused.
create or replace function :"schema".partition_retire(older_than interval, lock_ms integer default 500)
returns integer
language plpgsql as $$
declare
  v_schema text := :'schema';
  v_cutoff timestamptz := now() - older_than;
  v_today integer := (now() at time zone 'UTC')::date - date '1970-01-01';
  v_day integer;
  v_at timestamptz;
  v_kept boolean;
begin
  if older_than is null or older_than < interval '0' then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: older_than must be a positive interval, got %s', older_than);
  end if;
  if not pg_try_advisory_xact_lock(hashtext(v_schema || ':partitions')) then
    return null;
  end if;
  select p.day, p.retiring_at into v_day, v_at from :"schema".partition_days p
   where p.retiring_at is not null order by p.day limit 1;
  if found then
    if v_at > now() - interval '5 minutes' then
      return null;
    end if;
    update :"schema".partition_days p set retiring_at = now() where p.day = v_day;
    return v_day;
  end if;
  perform set_config('lock_timeout', lock_ms || 'ms', true);
  for v_day in
    select p.day from :"schema".partition_days p
     where p.day < v_today
       and p.day < (select max(n.day) from :"schema".partition_days n)
       -- Days whose end is past the window.
       and ((date '1970-01-01' + p.day + 1)::timestamp at time zone 'UTC') <= v_cutoff
     order by p.day
  loop
    -- The BRIN index on finished_at answers from the block ranges that hold
    -- an unfinished or recent call, not by reading the whole day.
    perform set_config('enable_seqscan', 'off', true);
    execute format('select exists (select from %I.%I c where c.finished_at is null or c.finished_at >= $1)',
                   v_schema, :"schema".partition_name('calls', v_day))
      into v_kept using v_cutoff;
    continue when v_kept;
    begin
      update :"schema".partition_days p set retiring_at = now() where p.day = v_day;
    exception when lock_not_available then
      raise notice 'pgdispatch: partition_retire: a retry held day % for % ms; it waits for the next round',
        v_day, lock_ms;
      return null;
    end;
    execute format('select exists (select from %I.%I c where c.finished_at is null or c.finished_at >= $1)',
                   v_schema, :"schema".partition_name('calls', v_day))
      into v_kept using v_cutoff;
    if v_kept then
      update :"schema".partition_days p set retiring_at = null where p.day = v_day;
      continue;
    end if;
    perform set_config('enable_seqscan', 'on', true);
    return v_day;
  end loop;
  return null;
end
$$;
