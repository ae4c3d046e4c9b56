-- Room on every page of calls for a new version of each of its rows, so
-- recording an attempt is a HOT update (no index writes) even when one group
-- commit records every call on the page: calls are claimed in dispatch order,
-- so a group of 30 outcomes rewrites whole pages, and at fillfactor 85 only
-- the first two or three rows of a page found room (about a quarter of the
-- updates were HOT). Each other update wrote its row to another page and an
-- entry into every btree index of calls. The recorded version is about 10 %
-- larger than the dispatched one (finished_at, output), hence 45 rather than 50.
-- The table's size per finished call barely changes: the version a recording
-- replaces stays on its page until pruned, as it stayed on its old page before.
-- calls is partitioned: the parameter is each partition's (the partitions
-- made from now on get it from partitions_create).
do $$
declare
  v_part regclass;
begin
  for v_part in
    select i.inhrelid::regclass from pg_inherits i
     where i.inhparent = format('%I.calls', :'schema')::regclass
  loop
    execute format('alter table %s set (fillfactor = 45)', v_part);
  end loop;
end
$$;
