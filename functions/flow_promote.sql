-- Gives free slots of `flow_key` to its oldest due waiters: each gets its
-- job (the payload names the key, so the worker frees the slot when the
-- attempt is recorded). The caller holds the key's row lock.
create or replace function :"schema".flow_promote(flow_key text)
returns integer
language plpgsql as $$
declare
  k :"schema".flow_keys;
  v_limit integer;
  v_free integer;
  w record;
  c :"schema".calls;
  v_job bigint;
  v_at timestamptz;
  n integer := 0;
begin
  select * into k from :"schema".flow_keys k0 where k0.key = flow_key;
  v_limit := k.concurrency_limit;
  if v_limit is null then
    v_free := 2147483647;
  else
    v_free := v_limit - (select count(*) from :"schema".flow_slots s where s.key = flow_key);
  end if;
  while v_free > 0 loop
    select * into w from :"schema".flow_waits w0
     where w0.key = flow_key and (w0.not_before is null or w0.not_before <= now())
     order by w0.call_id limit 1;
    exit when not found;
    delete from :"schema".flow_waits w1 where w1.call_id = w.call_id;
    select * into c from :"schema".calls c0 where c0.id = w.call_id for update;
    -- Cancelled (or pruned) while waiting: nothing to run.
    continue when not found or c.status not in ('pending', 'retrying');
    -- A rate-limited key: the job waits in the queue for its start time,
    -- which holds no worker slot.
    v_at := now();
    if k.rate_limit is not null then
      v_at := greatest(now(), coalesce(k.rate_next, now()));
      k.rate_next := v_at + k.rate_interval / k.rate_limit;
    end if;
    v_job := :"schema".insert_job(
      c.function,
      (:"schema".job_payload(c.id, w.attempt, c.input, c.trace_context)::jsonb
         || jsonb_build_object('key', flow_key))::json,
      v_at, c.priority);
    update :"schema".calls c1 set job_id = v_job, next_attempt_at = v_at where c1.id = c.id;
    insert into :"schema".flow_slots (call_id, key) values (c.id, flow_key)
    on conflict (call_id) do nothing;
    v_free := v_free - 1;
    n := n + 1;
  end loop;
  if k.rate_limit is not null and n > 0 then
    update :"schema".flow_keys k1 set rate_next = k.rate_next where k1.key = flow_key;
  end if;
  return n;
end
$$;
