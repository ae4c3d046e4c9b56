-- The partitions of a day still attached to their parents, in the order
-- retention detaches them, and whether a detach of each was begun and not
-- finished (it then takes DETACH PARTITION … FINALIZE).
create or replace function :"schema".partition_attached(day integer)
returns table (parent text, part text, pending boolean)
language sql stable as $$
  select t.parent, :"schema".partition_name(t.parent, partition_attached.day), i.inhdetachpending
    from unnest(array['steps', 'attempts', 'call_events', 'calls']) with ordinality as t(parent, n)
    join pg_inherits i
      on i.inhrelid = to_regclass(format('%I.%I', :'schema',
                                         :"schema".partition_name(t.parent, partition_attached.day)))
   order by t.n
$$;
