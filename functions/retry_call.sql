-- Schedules a failed or cancelled call again, now. Attempt numbering
-- continues; a call whose attempts are exhausted gets one more. A workflow
-- runs again from its first step that did not succeed: that step's row and
-- every later one go (the later ones were taken on the failure's path), the
-- earlier ones replay. A call whose day retention has begun to drop
-- (partition_retire) stays as it is: the day's row, held for share here,
-- is what retention marks.
create or replace function :"schema".retry_call(call_id bigint, actor text default current_user,
                                     reason text default 'manual retry')
returns boolean
language plpgsql as $$
declare
  c :"schema".calls;
  v_job bigint;
  v_retiring timestamptz;
begin
  select p.retiring_at into v_retiring from :"schema".partition_days p
   where p.day = (retry_call.call_id >> 33)::integer for share;
  if v_retiring is not null then
    raise exception using errcode = 'PD005',
      message = format('pgdispatch: call %s is past retention: its day''s partitions are being dropped',
                       retry_call.call_id);
  end if;
  select * into c from :"schema".calls c0 where c0.id = retry_call.call_id for update;
  if not found then
    raise exception using errcode = 'PD004',
      message = format('pgdispatch: call %s not found', retry_call.call_id);
  end if;
  if c.status not in ('failed', 'cancelled') then
    return false;
  end if;
  delete from :"schema".steps s
   where s.call_id = c.id
     and s.seq >= (select min(s0.seq) from :"schema".steps s0
                    where s0.call_id = c.id and s0.status <> 'succeeded');
  select j.id into v_job from graphile_worker.add_job(
    c.function,
    :"schema".job_payload(c.id, c.attempts + 1, c.input, c.trace_context),
    max_attempts => :"schema".job_max_attempts(), priority => c.priority) j;
  update :"schema".calls c1
     set status = 'retrying', finished_at = null, next_attempt_at = now(), job_id = v_job,
         wake_need = 0
   where c1.id = c.id;
  insert into :"schema".call_events (call_id, event, status, attempt, reason, actor)
  values (c.id, 'retried', 'retrying', c.attempts + 1, reason, actor);
  return true;
end
$$;
