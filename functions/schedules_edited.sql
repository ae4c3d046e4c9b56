-- An edit of what decides the ticks starts the schedule afresh from the
-- next tick; any edit clears an error so the workers look at the row again.
create or replace function :"schema".schedules_edited() returns trigger
language plpgsql as $$
begin
  if (new.cron, new.timezone, new.enabled) is distinct from (old.cron, old.timezone, old.enabled) then
    new.next_tick := null;
  end if;
  if (new.cron, new.timezone, new.enabled, new.function, new.input, new.options, new.catch_up)
     is distinct from
     (old.cron, old.timezone, old.enabled, old.function, old.input, old.options, old.catch_up) then
    new.error := null;
    new.updated_at := now();
  end if;
  return new;
end
$$;

drop trigger if exists schedules_edited on :"schema".schedules;
create trigger schedules_edited before update on :"schema".schedules
  for each row execute function :"schema".schedules_edited();
