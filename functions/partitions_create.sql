-- Creates the daily partitions of calls, attempts, call_events and steps
-- for today and the next `days_ahead` days (and the `days_back` days before
-- today, to load history into), where missing. One maintainer
-- at a time: a worker that does not get the advisory lock returns null.
-- Each partition is built alone and then attached, which takes a lock on
-- the parent that lets dispatch and recording go on. Returns the number of
-- days created.
create or replace function :"schema".partitions_create(days_ahead integer, days_back integer default 0)
returns integer
language plpgsql as $$
declare
  v_schema text := :'schema';
  v_today integer := (now() at time zone 'UTC')::date - date '1970-01-01';
  v_day integer;
  v_table text;
  v_part text;
  v_made integer := 0;
begin
  if days_ahead is null or days_ahead < 1 then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: days_ahead must be at least 1, got %s', days_ahead);
  end if;
  if not pg_try_advisory_xact_lock(hashtext(v_schema || ':partitions')) then
    return null;
  end if;
  -- Waiting behind a long transaction would queue dispatch behind this.
  perform set_config('lock_timeout', '2s', true);
  begin
    for v_day in v_today - greatest(days_back, 0) .. v_today + days_ahead loop
      continue when exists (select from :"schema".partition_days p where p.day = v_day);
      foreach v_table in array array['calls', 'attempts', 'call_events', 'steps'] loop
        v_part := :"schema".partition_name(v_table, v_day);
        -- calls at fillfactor 45: recording an attempt stays a HOT update
        -- (migrations/0040_calls_fillfactor.sql says why).
        execute format('create table %1$I.%2$I (like %1$I.%3$I including defaults including constraints including indexes)%4$s',
                       v_schema, v_part, v_table,
                       case when v_table = 'calls' then ' with (fillfactor = 45)' else '' end);
        -- Unique per partition (one sequence feeds them all): a partitioned
        -- unique index would have to hold the call id.
        if v_table = 'attempts' then
          execute format('create unique index on %I.%I (id)', v_schema, v_part);
        elsif v_table = 'call_events' then
          execute format('alter table %I.%I add primary key (id)', v_schema, v_part);
        end if;
        execute format('alter table %1$I.%2$I attach partition %1$I.%3$I for values from (%4$s) to (%5$s)',
                       v_schema, v_table, v_part, v_day::bigint << 33, (v_day + 1)::bigint << 33);
      end loop;
      insert into :"schema".partition_days (day) values (v_day);
      v_made := v_made + 1;
    end loop;
    -- A transaction that locked calls before this commits keeps the list of
    -- partitions it read then, yet a later statement of it would see the new
    -- partition_days rows and route a new call to a partition it does not
    -- know ("no partition found"). Waiting here for every transaction that
    -- holds calls, with a lock held to the commit, closes that window: one
    -- that reads these rows locked calls after the commit. Dispatch waits
    -- at most 200 ms for it; a maintainer that cannot get it (or a lock
    -- before it) makes nothing and tries again next round.
    if v_made > 0 then
      perform set_config('lock_timeout', '200ms', true);
      lock table :"schema".calls in share mode;
    end if;
  exception when lock_not_available then
    raise notice 'pgdispatch: partitions_create: the tables were busy; the days wait for the next round';
    return null;
  end;
  return v_made;
end
$$;
