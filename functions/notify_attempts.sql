-- Tells the dashboard's live tail that attempts were recorded: one
-- notification on "<schema>:attempts", empty (the listener reads the new
-- rows by id), sent when the transaction commits. Workers send at most a few
-- a second (src/record/recorder.ts), never one per attempt.
create or replace function :"schema".notify_attempts()
returns void
language sql as $$
  select pg_notify(:'schema' || ':attempts', '');
$$;
