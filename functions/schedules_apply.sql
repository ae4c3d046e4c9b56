-- Applies what a worker decided for each due schedule, in the round's
-- transaction: dispatches one call per tick (its run_at the tick) and moves
-- next_tick on, or marks the row with an error. A dispatch that fails (its
-- function unknown, bad options) marks the row instead of failing the round.
-- `decisions`: [{ name, ticks: [timestamptz], next_tick, error }].
create or replace function :"schema".schedules_apply(decisions jsonb)
returns table (name text, tick timestamptz, call_id bigint, error text)
language plpgsql as $$
declare
  d record;
  s :"schema".schedules;
  t timestamptz;
  v_id bigint;
  v_ticks timestamptz[];
  v_ids bigint[];
begin
  for d in
    select * from jsonb_to_recordset(decisions)
      as x(name text, ticks timestamptz[], next_tick timestamptz, error text)
  loop
    select * into s from :"schema".schedules s0 where s0.name = d.name for update;
    if not found then
      continue;
    end if;
    if d.error is not null then
      update :"schema".schedules s1 set error = d.error, next_tick = null where s1.name = d.name;
      name := d.name; tick := null; call_id := null; error := d.error;
      return next;
      continue;
    end if;
    v_ticks := '{}'; v_ids := '{}';
    begin
      foreach t in array coalesce(d.ticks, '{}') loop
        v_id := :"schema".dispatch(s.function, s.input,
          s.options || jsonb_build_object('idempotency_key', :"schema".schedule_tick_key(s.name, t),
                                          'run_at', t));
        v_ticks := v_ticks || t; v_ids := v_ids || v_id;
      end loop;
      update :"schema".schedules s1
         set next_tick = d.next_tick,
             last_tick = coalesce(v_ticks[cardinality(v_ticks)], s1.last_tick),
             last_call_id = coalesce(v_ids[cardinality(v_ids)], s1.last_call_id)
       where s1.name = d.name;
    exception when others then
      v_ticks := '{}'; v_ids := '{}';
      error := format('dispatch failed: %s', sqlerrm);
      update :"schema".schedules s1 set error = schedules_apply.error, next_tick = null
       where s1.name = d.name;
      name := d.name; tick := null; call_id := null;
      return next;
      continue;
    end;
    for i in 1 .. cardinality(v_ticks) loop
      name := d.name; tick := v_ticks[i]; call_id := v_ids[i]; error := null;
      return next;
    end loop;
  end loop;
end
$$;
