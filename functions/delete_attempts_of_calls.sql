-- Deleting calls deletes what belongs to them: attempts, steps, events and
-- idempotency keys (none has a foreign key to calls, which is partitioned).
-- The lowest and highest id deleted bound each delete, so it searches only
-- the partitions of those days (`= any(...)` alone prunes none).
create or replace function :"schema".delete_attempts_of_calls() returns trigger
language plpgsql as $$
declare
  v_lo bigint;
  v_hi bigint;
begin
  select min(g.id), max(g.id) into v_lo, v_hi from gone g;
  if v_lo is null then
    return null;
  end if;
  delete from :"schema".attempts a
   where a.call_id = any(array(select g.id from gone g)) and a.call_id between v_lo and v_hi;
  delete from :"schema".steps s
   where s.call_id = any(array(select g.id from gone g)) and s.call_id between v_lo and v_hi;
  delete from :"schema".call_events e
   where e.call_id = any(array(select g.id from gone g)) and e.call_id between v_lo and v_hi;
  delete from :"schema".call_keys k using gone g
   where g.idempotency_key is not null
     and k.function = g.function and k.idempotency_key = g.idempotency_key and k.call_id = g.id;
  return null;
end
$$;

drop trigger if exists calls_delete_attempts on :"schema".calls;
create trigger calls_delete_attempts
  after delete on :"schema".calls
  referencing old table as gone
  for each statement execute function :"schema".delete_attempts_of_calls();
