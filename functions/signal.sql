-- Sends a signal: the oldest step waiting for `key` receives it and its call
-- wakes; with none waiting, it is kept for the first waitFor on that key.
-- Returns the signal's id.
create or replace function :"schema".signal(key text, payload jsonb default null)
returns bigint
language plpgsql as $$
declare
  w record;
  v_id bigint;
begin
  if key is null or key = '' then
    raise exception using errcode = 'PD003', message = 'pgdispatch: signal key is empty';
  end if;
  -- Serialises with a waitFor registering on the same key (record_workflow),
  -- so a signal is never sent past a wait that is being recorded.
  perform pg_advisory_xact_lock(hashtext('pgdispatch:signal:' || key));
  select s.call_id, s.seq into w from :"schema".steps s
   where s.signal_key = signal.key and s.status = 'waiting'
   order by s.started_at
   limit 1
     for update;
  if not found then
    insert into :"schema".signals (key, payload) values (signal.key, payload) returning id into v_id;
    return v_id;
  end if;
  -- The call is locked before its step changes, as everywhere else.
  perform from :"schema".calls c where c.id = w.call_id for update;
  update :"schema".steps s set status = 'succeeded', output = payload, finished_at = now()
   where s.call_id = w.call_id and s.seq = w.seq;
  insert into :"schema".signals (key, payload, consumed_at, call_id, seq)
  values (signal.key, payload, now(), w.call_id, w.seq) returning id into v_id;
  perform :"schema".steps_finished(w.call_id, array[w.seq], array[w.seq],
                                   format('signal %s', key), 'signal');
  return v_id;
end
$$;
