-- A new call's id: (day << 33) + (sequence mod 2^33), day = days since
-- 1970-01-01 UTC, so the id names its daily partition of calls, attempts,
-- call_events and steps. The day is today's, or the latest day before it
-- whose partitions exist (partition_days) when the maintenance is behind,
-- or 0 (the legacy partition) before any: a late maintainer never fails a
-- dispatch, it puts new calls into the newest partition it made. Below
-- 2^53, so exact as a JavaScript number; ids are unique while fewer than
-- 2^33 calls are made in a day. call_day_base() is the day part, day << 33.
create or replace function :"schema".call_id() returns bigint
language sql volatile as $$
  select :"schema".call_day_base() + nextval(':"schema".calls_id_seq'::regclass) % 8589934592
$$;

alter table :"schema".calls alter column id set default :"schema".call_id();
