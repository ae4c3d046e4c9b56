-- Starts a round (inside the caller's transaction): waits for the round of
-- another worker to commit, returns the time of the previous round, and
-- stamps this one.
create or replace function :"schema".scheduler_begin(out round_at timestamptz, out previous timestamptz)
language plpgsql as $$
begin
  select c.ran_at into previous from :"schema".scheduler_clock c for update;
  round_at := clock_timestamp();
  update :"schema".scheduler_clock c set ran_at = round_at;
end
$$;
