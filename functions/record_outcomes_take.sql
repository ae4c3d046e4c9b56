-- record_outcomes for a worker that runs workflows (`workflow_task_ids`),
-- with the live tail's notification when `notify` (as
-- record_outcomes_notify). The parents its children's outcomes woke
-- (wake_call lists them for the transaction) and that this worker runs come
-- back claimed by it, each with its steps as claim_jobs brings them (rows
-- with `job` set), so a parent runs again without a claim of its own. A
-- parent's job locked meanwhile (another worker claimed it) is skipped. The
-- wakes' notification waits for the take (pgdispatch.wake_notify), and goes
-- out only if a woken parent was not taken, for the workers that run it.
create or replace function :"schema".record_outcomes_take(worker text, outcomes jsonb,
                                                          notify boolean,
                                                          workflow_task_ids integer[])
returns table (call_id bigint, attempt integer, call_status text, next_attempt_at timestamptz,
               recorded boolean, job json)
language plpgsql
-- The take's statement and workflow_state's are planned once per session
-- (generic, as record_outcomes's): a custom plan, which prunes the calls
-- and steps partitions while planning, would be made again for every group
-- that woke a parent.
set jit = off
set plan_cache_mode = force_generic_plan
as $$
declare
  v_woken bigint[];
  v_lo bigint;
  v_hi bigint;
  v_taken integer;
begin
  perform set_config('pgdispatch.wake_notify', 'later', true);
  return query select r.*, null::json from :"schema".record_outcomes(worker, outcomes) r;
  perform set_config('pgdispatch.wake_notify', '', true);
  if notify then
    perform :"schema".notify_attempts();
  end if;
  v_woken := :"schema".woken_calls();
  if cardinality(v_woken) = 0 then
    return;
  end if;
  select min(w), max(w) into v_lo, v_hi from unnest(v_woken) w;
  return query
  with due as (
    select j0.id from :"schema".calls p
      join graphile_worker._private_jobs j0 on j0.id = p.job_id
     where p.id = any(v_woken) and p.status = 'pending'
       -- The bounds prune the partitions no woken parent is in.
       and p.id between v_lo and v_hi
       and j0.is_available = true and j0.job_queue_id is null and j0.run_at <= now()
       and j0.task_id = any(workflow_task_ids)
       for update of j0 skip locked
  ), claimed as (
    update graphile_worker._private_jobs j
       set attempts = j.attempts + 1, locked_by = worker, locked_at = now()
     where j.id = any(array(select due.id from due))
    returning j.id, j.task_id, j.payload, j.priority, j.run_at
  )
  select null::bigint, null::integer, null::text, null::timestamptz, null::boolean,
         json_build_object('id', c.id::text, 'task_id', c.task_id, 'payload', c.payload,
                           'priority', c.priority, 'run_at', c.run_at::text,
                           'workflow', :"schema".workflow_state(:"schema".job_call_id(c.payload)))
    from claimed c
   order by c.priority, c.run_at;
  get diagnostics v_taken = row_count;
  if v_taken < cardinality(v_woken) then
    perform :"schema".notify_jobs(cardinality(v_woken) - v_taken, 0);
  end if;
end
$$;
