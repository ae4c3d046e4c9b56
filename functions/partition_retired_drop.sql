-- Retention by partition, last step: drops the partitions of a retiring day
-- once the caller has detached them (partition_retire says which day), and
-- the day's idempotency keys. Dropping a detached table takes no lock any
-- other session waits for, and deletes no row, so it writes next to no
-- WAL. A partition still attached (a detach that did not finish) is an
-- error, and the day stays marked for the next round.
create or replace function :"schema".partition_retired_drop(day integer)
returns void
language plpgsql as $$
declare
  v_schema text := :'schema';
  v_table text;
  v_part text;
begin
  if not exists (select from :"schema".partition_days p
                  where p.day = partition_retired_drop.day and p.retiring_at is not null) then
    raise exception using errcode = 'PD005',
      message = format('pgdispatch: day %s is not retiring', partition_retired_drop.day);
  end if;
  foreach v_table in array array['steps', 'attempts', 'call_events', 'calls'] loop
    v_part := :"schema".partition_name(v_table, partition_retired_drop.day);
    if exists (select from pg_inherits i
                where i.inhrelid = to_regclass(format('%I.%I', v_schema, v_part))) then
      raise exception using errcode = 'PD005',
        message = format('pgdispatch: %s is still a partition of %s; detach it first', v_part, v_table);
    end if;
    execute format('drop table if exists %I.%I', v_schema, v_part);
  end loop;
  delete from :"schema".call_keys k
   where k.call_id >= partition_retired_drop.day::bigint << 33
     and k.call_id < (partition_retired_drop.day + 1)::bigint << 33;
  delete from :"schema".partition_days p where p.day = partition_retired_drop.day;
end
$$;
