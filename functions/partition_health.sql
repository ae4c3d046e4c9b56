-- The state of the daily partitions: today (days since 1970-01-01 UTC), the
-- newest day with partitions, how many days ahead of today they reach
-- (negative when behind, null with none), and whether today's or
-- tomorrow's are missing, which is a health error: new calls then go into
-- the newest partition there is, and that day's drop is late.
create or replace function :"schema".partition_health(
  out today integer, out newest integer, out days_ahead integer, out missing boolean,
  out oldest integer, out days integer)
language sql stable as $$
  select t.today, max(p.day), max(p.day) - t.today,
         count(*) filter (where p.day in (t.today, t.today + 1)) < 2,
         min(p.day), count(p.day)::integer
    from (select (now() at time zone 'UTC')::date - date '1970-01-01' as today) t
    left join :"schema".partition_days p on true
   group by t.today
$$;
