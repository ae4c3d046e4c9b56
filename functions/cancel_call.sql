-- Cancels a pending or retrying call. Returns false when the call is
-- already finished. An attempt running at that moment completes and is
-- recorded, but schedules nothing.
create or replace function :"schema".cancel_call(call_id bigint, reason text default null,
                                      actor text default current_user)
returns boolean
language plpgsql as $$
declare
  v_job bigint;
  v_attempts integer;
begin
  update :"schema".calls c
     set status = 'cancelled', finished_at = now(), next_attempt_at = null
   where c.id = cancel_call.call_id and c.status in ('pending', 'running', 'retrying')
  returning c.job_id, c.attempts into v_job, v_attempts;
  if not found then
    perform from :"schema".calls c where c.id = cancel_call.call_id;
    if not found then
      raise exception using errcode = 'PD004',
        message = format('pgdispatch: call %s not found', cancel_call.call_id);
    end if;
    return false;
  end if;
  delete from graphile_worker._private_jobs j where j.id = v_job and j.locked_at is null;
  insert into :"schema".call_events (call_id, event, status, attempt, reason, actor)
  values (cancel_call.call_id, 'cancelled', 'cancelled', v_attempts, reason, actor);
  return true;
end
$$;
