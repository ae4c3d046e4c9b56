-- After a keyed call's attempt is recorded: frees its slot and gives it to
-- the next waiter. A call that will retry waits again, for a slot and its
-- retry time, instead of running its retry job outside the limit.
create or replace function :"schema".flow_release(call_ids bigint[])
returns integer
language plpgsql as $$
declare
  r record;
  c :"schema".calls;
  n integer := 0;
  v_reason text;
begin
  for r in
    select s.call_id, s.key from :"schema".flow_slots s
     where s.call_id = any(call_ids) order by s.key, s.call_id
  loop
    select case when k.concurrency_limit is null then 'rate' else 'concurrency' end into v_reason
      from :"schema".flow_keys k where k.key = r.key for update;
    select * into c from :"schema".calls c0 where c0.id = r.call_id for update;
    if found and c.status = 'retrying' and c.job_id is not null then
      delete from graphile_worker._private_jobs j where j.id = c.job_id and j.locked_at is null;
      if found then
        update :"schema".calls c1 set job_id = null where c1.id = c.id;
        insert into :"schema".flow_waits (call_id, key, reason, attempt, not_before)
        values (c.id, r.key, coalesce(v_reason, 'concurrency'), c.attempts + 1, c.next_attempt_at)
        on conflict (call_id) do nothing;
      end if;
    elsif found and c.status in ('pending', 'running', 'retrying') then
      -- Still to run (its job was given back): it keeps the slot.
      continue;
    end if;
    delete from :"schema".flow_slots s where s.call_id = r.call_id;
    n := n + 1;
    perform :"schema".flow_promote(r.key);
  end loop;
  return n;
end
$$;
