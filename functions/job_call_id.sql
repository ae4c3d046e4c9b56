-- The call a graphile-worker job runs, or null for a job that is not ours.
-- Through the primary key, so rescue stays cheap however many calls exist.
create or replace function :"schema".job_call_id(payload json) returns bigint
language sql immutable parallel safe as $$
  select case when json_typeof(payload -> 'id') = 'number'
              and json_typeof(payload -> 'attempt') = 'number'
         then (payload ->> 'id')::bigint end
$$;
