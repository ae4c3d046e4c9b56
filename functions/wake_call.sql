-- Wakes a waiting workflow call after one of its awaited steps finished:
-- once `wake_need` reaches 0 its next job runs now. Further wakes before it
-- runs change nothing, so duplicates collapse. A call that is not waiting
-- (running) finds the finished step when it suspends. The calls it woke
-- are listed for the transaction (woken_calls), so the worker recording
-- the outcome that woke one can run it next. That recording
-- (record_outcomes_take) sets pgdispatch.wake_notify to 'later' for its
-- transaction: it notifies the workers itself, and only for the parents it
-- did not take, so a handed-over parent costs no other worker a claim.
create or replace function :"schema".wake_call(p_call bigint, p_reason text, p_actor text)
returns boolean
language plpgsql as $$
declare
  c :"schema".calls;
  v_job bigint;
  v_notify integer := case when current_setting('pgdispatch.wake_notify', true) = 'later'
                           then null else 0 end;
begin
  -- Most wakes of a gather only count down.
  update :"schema".calls c1 set wake_need = c1.wake_need - 1
   where c1.id = p_call and c1.status = 'waiting' and c1.wake_need > 1;
  if found then
    return false;
  end if;
  select * into c from :"schema".calls c0 where c0.id = p_call for update;
  if not found or c.status <> 'waiting' or c.wake_need = 0 then
    return false;
  end if;
  if c.job_id is not null then
    -- Its timer job: due now. One already locked is running this call,
    -- which will see the finished step when it suspends.
    update graphile_worker._private_jobs j set run_at = now()
     where j.id = c.job_id and j.locked_at is null;
    if not found then
      if exists (select from graphile_worker._private_jobs j where j.id = c.job_id) then
        return false;
      end if;
      v_job := null;
    else
      v_job := c.job_id;
      perform :"schema".notify_jobs(1, v_notify);
    end if;
  end if;
  if v_job is null then
    v_job := :"schema".insert_job_notify(
      c.function, :"schema".job_payload(c.id, c.attempts + 1, c.input, c.trace_context),
      now(), c.priority, v_notify);
  end if;
  update :"schema".calls c1
     set status = 'pending', wake_need = 0, job_id = v_job, next_attempt_at = now()
   where c1.id = p_call;
  insert into :"schema".call_events (call_id, event, status, attempt, reason, actor)
  values (p_call, 'woken', 'pending', c.attempts + 1, p_reason, p_actor);
  perform set_config('pgdispatch.woken_calls',
                     coalesce(current_setting('pgdispatch.woken_calls', true), '') || p_call || ',',
                     true);
  return true;
end
$$;
