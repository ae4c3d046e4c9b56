create or replace function :"schema".delete_attempts_of_calls() returns trigger
language plpgsql as $$
begin
  delete from :"schema".attempts a where a.call_id = any(array(select g.id from gone g));
  delete from :"schema".steps s where s.call_id = any(array(select g.id from gone g));
  return null;
end
$$;

drop trigger if exists calls_delete_attempts on :"schema".calls;
create trigger calls_delete_attempts
  after delete on :"schema".calls
  referencing old table as gone
  for each statement execute function :"schema".delete_attempts_of_calls();
