-- record_attempts stays for workers of pgdispatch 0.1.0 still running
-- while their successors roll out: the same recording, through
-- record_outcomes, with a row for every outcome as before.
create or replace function :"schema".record_attempts(results jsonb)
returns table (call_id bigint, attempt integer, call_status text, next_attempt_at timestamptz,
               recorded boolean)
language sql as $$
  with o as (
    select x.call_id, x.attempt, x.status
      from jsonb_to_recordset(results) as x(call_id bigint, attempt integer, status text)
  ), r as (
    select * from :"schema".record_outcomes(
      results -> 0 ->> 'worker',
      (select jsonb_agg(e || jsonb_build_object(
                'started_ms', extract(epoch from (e ->> 'started_at')::timestamptz) * 1000))
         from jsonb_array_elements(results) e))
  )
  select o.call_id, o.attempt,
         coalesce(r.call_status, case when o.status = 'ok' then 'succeeded' else 'failed' end),
         r.next_attempt_at, coalesce(r.recorded, true)
    from o left join r on r.call_id = o.call_id and r.attempt = o.attempt;
$$;
