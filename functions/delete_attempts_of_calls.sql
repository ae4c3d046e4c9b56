-- Deleting calls deletes what belongs to them: attempts, steps, events and
-- idempotency keys (none has a foreign key to calls, which is partitioned).
create or replace function :"schema".delete_attempts_of_calls() returns trigger
language plpgsql as $$
begin
  delete from :"schema".attempts a where a.call_id = any(array(select g.id from gone g));
  delete from :"schema".steps s where s.call_id = any(array(select g.id from gone g));
  delete from :"schema".call_events e where e.call_id = any(array(select g.id from gone g));
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
