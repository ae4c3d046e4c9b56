-- Cancels a pending, retrying or waiting call. Returns false when the call
-- is already finished. An attempt running at that moment completes and is
-- recorded, but schedules nothing. A workflow's open children are cancelled
-- in the same transaction, down the tree, its waiting steps end, and its
-- running attempt hears of it (the channel carries the call id).
create or replace function :"schema".cancel_call(call_id bigint, reason text default null,
                                                 actor text default current_user)
returns boolean
language plpgsql as $$
declare
  v_job bigint;
  v_attempts integer;
  v_child bigint;
begin
  update :"schema".calls c
     set status = 'cancelled', finished_at = now(), next_attempt_at = null, wake_need = null
   where c.id = cancel_call.call_id and c.status in ('pending', 'running', 'retrying', 'waiting')
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
  update :"schema".steps s set status = 'cancelled', finished_at = now()
   where s.call_id = cancel_call.call_id and s.status in ('waiting', 'retrying');
  for v_child in
    select c.id from :"schema".calls c
     where c.parent_call_id = cancel_call.call_id
       and c.status in ('pending', 'running', 'retrying', 'waiting')
     order by c.id
  loop
    perform :"schema".cancel_call(v_child, coalesce(reason, 'parent cancelled'), actor);
  end loop;
  perform pg_notify('pgdispatch:cancel', cancel_call.call_id::text);
  return true;
end
$$;
