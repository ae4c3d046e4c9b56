-- record_workflow, and in the same transaction one notification for the
-- dashboard's live tail (notify_attempts), as record_outcomes_notify: the
-- step recorder uses it for a group that records suspended attempts, at
-- most once in each interval.
create or replace function :"schema".record_workflow_notify(worker text, ops jsonb)
returns table (i integer, status text, output jsonb, error text, wake_at timestamptz,
               child_call_id bigint, attempts integer, recorded boolean)
language plpgsql
as $$
begin
  return query select * from :"schema".record_workflow(worker, ops);
  perform :"schema".notify_attempts();
end
$$;
