-- What a call's graphile-worker job carries: the call, the attempt it is for,
-- the input and, when the dispatch was traced, its trace context. Plain SQL,
-- so the planner inlines it where it is used; stable, as json_build_object
-- is: declared immutable, it was never inlined, and each use was planned
-- again.
create or replace function :"schema".job_payload(call_id bigint, attempt integer, input jsonb,
                                                 trace jsonb)
returns json
language sql stable as $$
  select case when trace is null
              then json_build_object('id', call_id, 'attempt', attempt, 'input', input)
              else json_build_object('id', call_id, 'attempt', attempt, 'input', input,
                                     'trace', trace) end
$$;
