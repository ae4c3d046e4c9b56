-- Awaited steps of a workflow call finished (children's final statuses, a
-- signal): `seqs` the steps, `ok` those of them that succeeded. Only the
-- steps its suspended run awaits (`wake_steps`) count: each lowers
-- `wake_need`, and the call wakes (wake_call) when it reaches 0, or at the
-- first success when it awaits ctx.any (`wake_any`). Returns whether the
-- call woke.
--
-- The caller updated the steps first. The call is locked whatever its
-- status, as a suspension (record_workflow) locks it before counting its
-- steps: if this comes first, the suspension waits for this transaction
-- and counts these steps finished; if the suspension comes first, this
-- waits for it and sees the call waiting. Locking only a waiting call would
-- let a suspension count between this look (call still running) and this
-- commit, and the wake would be lost.
create or replace function :"schema".steps_finished(p_call bigint, seqs integer[], ok integer[],
                                                    p_reason text, p_actor text)
returns boolean
language plpgsql as $$
declare
  c record;
  v_n integer;
begin
  select c0.status, c0.wake_need, c0.wake_steps, c0.wake_any into c
    from :"schema".calls c0
   where c0.id = p_call
     for update;
  if not found or c.status <> 'waiting' or coalesce(c.wake_need, 0) = 0 then
    return false;
  end if;
  select count(*) into v_n from unnest(seqs) q where c.wake_steps is null or q = any(c.wake_steps);
  if v_n = 0 then
    return false;
  end if;
  if c.wake_need > v_n
     and not (c.wake_any and exists (select from unnest(ok) q where q = any(c.wake_steps))) then
    update :"schema".calls c1 set wake_need = c1.wake_need - v_n where c1.id = p_call;
    return false;
  end if;
  -- wake_call wakes at 1.
  update :"schema".calls c1 set wake_need = 1 where c1.id = p_call;
  return :"schema".wake_call(p_call, p_reason, p_actor);
end
$$;
