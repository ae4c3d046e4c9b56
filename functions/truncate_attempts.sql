create or replace function :"schema".truncate_attempts() returns trigger
language plpgsql as $$
begin
  truncate :"schema".attempts, :"schema".steps, :"schema".call_events, :"schema".call_keys;
  return null;
end
$$;

drop trigger if exists calls_truncate_attempts on :"schema".calls;
create trigger calls_truncate_attempts
  after truncate on :"schema".calls
  for each statement execute function :"schema".truncate_attempts();
