-- The idempotency key of a schedule's tick: `schedule:<name>:<tick in UTC>`.
create or replace function :"schema".schedule_tick_key(schedule_name text, tick timestamptz)
returns text
language sql immutable parallel safe as $$
  select 'schedule:' || schedule_name || ':'
         || to_char(tick at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
