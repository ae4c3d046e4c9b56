-- record_outcomes, and in the same transaction one notification for the
-- dashboard's live tail (notify_attempts): the recorder uses it for at most
-- one group in each interval, so a busy worker's notifications cost one
-- commit-time lock a few times a second, and no round trip.
create or replace function :"schema".record_outcomes_notify(worker text, outcomes jsonb)
returns table (call_id bigint, attempt integer, call_status text, next_attempt_at timestamptz,
               recorded boolean)
language plpgsql
as $$
begin
  return query select * from :"schema".record_outcomes(worker, outcomes);
  perform :"schema".notify_attempts();
end
$$;
