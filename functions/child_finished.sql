-- A child call finished: its step in the parent gets the outcome, and the
-- parent may wake.
create or replace function :"schema".child_finished() returns trigger
language plpgsql as $$
begin
  -- The parent's row is locked by wake_call, as a suspension locks it: a
  -- suspension that counts the steps after this commits sees this one
  -- finished; one that counted before holds the lock until wake_call can
  -- see it waiting.
  update :"schema".steps s set
    status = case when new.status = 'succeeded' then 'succeeded' else 'failed' end,
    output = case when new.status = 'succeeded' then new.output end,
    error = case when new.status = 'succeeded' then null
                 else format('child call %s (%s) %s: %s', new.id, new.function, new.status,
                             coalesce(new.last_error, 'no error recorded')) end,
    finished_at = now()
   where s.child_call_id = new.id and s.call_id = new.parent_call_id and s.status = 'waiting';
  if found then
    perform :"schema".wake_call(new.parent_call_id,
                                format('child %s %s', new.id, new.status), 'child');
  end if;
  return null;
end
$$;

drop trigger if exists calls_child_finished on :"schema".calls;
create trigger calls_child_finished
  after update of status on :"schema".calls
  for each row
  when (new.parent_call_id is not null
        and new.status in ('succeeded', 'failed', 'cancelled')
        and old.status not in ('succeeded', 'failed', 'cancelled'))
  execute function :"schema".child_finished();
