-- The workers' sweep: frees the slots of calls that finished without
-- flow_release (a worker that died between recording and releasing, a call
-- cancelled while it held a slot), and starts the waiters whose retry time
-- came. Returns the calls started.
create or replace function :"schema".flow_sweep()
returns integer
language plpgsql as $$
declare
  k text;
  n integer := 0;
begin
  for k in
    select distinct s.key from :"schema".flow_slots s
      left join :"schema".calls c on c.id = s.call_id
     where c.id is null or c.status in ('succeeded', 'failed', 'cancelled')
    union
    select distinct w.key from :"schema".flow_waits w
     where w.not_before is null or w.not_before <= now()
  loop
    perform from :"schema".flow_keys fk where fk.key = k for update skip locked;
    continue when not found;
    delete from :"schema".flow_slots s
     where s.key = k
       and not exists (select from :"schema".calls c where c.id = s.call_id
                        and c.status in ('pending', 'running', 'retrying'));
    n := n + :"schema".flow_promote(k);
  end loop;
  return n;
end
$$;
