-- Jobs get a generous attempt budget: graphile-worker's own retries only
-- cover failures to record an outcome (a database outage), never the
-- function's own failures, whose schedule is the call's retry policy.
create or replace function :"schema".job_max_attempts() returns integer
language sql immutable parallel safe as $$ select 100 $$;
