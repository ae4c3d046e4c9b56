-- Records what the runs of workflow bodies did, for a group of runs at once
-- (the worker's step recorder). Each op is one of:
--   put      a step finished (succeeded or failed): inserted, or a waiting
--            or retrying row completed. A step already finished (by another
--            worker) keeps its row, which comes back.
--   fail     a step failed with a retryable outcome: retried on its policy
--            (`retrying`, wake_at) or, attempts exhausted, `failed`.
--   sleep    a sleep began: `waiting` until wake_at.
--   wait     a waitFor began: takes a kept signal at once, else `waiting`.
--   call     a child call: dispatched with the step row.
--   suspend  a run ended suspended: the attempt, the call `waiting`, its
--            wake-up job (or a job now, if an awaited step finished since).
-- Returns a row per op except the puts that went as sent.
create or replace function :"schema".record_workflow(worker text, ops jsonb)
returns table (i integer, status text, output jsonb, error text, wake_at timestamptz,
               child_call_id bigint, attempts integer, recorded boolean)
language plpgsql
-- The group's lowest and highest call id bound the statements that join it
-- to steps and calls, so their generic plans (forced, as record_outcomes's
-- is) start with only the partitions of the group's days.
set jit = off
set plan_cache_mode = force_generic_plan
as $$
declare
  v_lo bigint;
  v_hi bigint;
  r record;
  c :"schema".calls;
  p :"schema".retry_policies;
  st :"schema".steps;
  s record;
  v_open integer;
  v_ok integer;
  v_wake timestamptz;
  v_need integer;
  v_job bigint;
  v_child bigint;
  v_sig record;
  v_trace jsonb;
  v_trace_of bigint;
  v_call_i integer[] := '{}';
  v_call_child bigint[];
begin
  select min(x.call_id), max(x.call_id) into v_lo, v_hi
    from jsonb_to_recordset(ops) as x(call_id bigint);
  -- Finished steps, the common op, in one statement.
  return query
  with o as (
    select x.i, x.call_id, x.seq, x.name, x.kind, x.status, x.attempts, x.output, x.error,
           to_timestamp(x.started_ms / 1000) as started_at
      from jsonb_to_recordset(ops) as x(
        op text, i integer, call_id bigint, seq integer, name text, kind text, status text,
        attempts integer, output jsonb, error text, started_ms double precision)
     where x.op = 'put'
  ), ins as (
    insert into :"schema".steps as t (call_id, seq, name, kind, status, attempts, output, error,
                                      started_at, finished_at)
    select o.call_id, o.seq, o.name, o.kind, o.status, o.attempts, o.output, o.error,
           o.started_at, now()
      from o
    on conflict (call_id, seq) do update
      set status = excluded.status, attempts = greatest(t.attempts, excluded.attempts),
          output = excluded.output, error = excluded.error, finished_at = now()
      where t.status in ('waiting', 'retrying') and t.kind = excluded.kind
    returning t.call_id, t.seq
  )
  select o.i, t.status, t.output, t.error, t.wake_at, t.child_call_id, t.attempts, false
    from o join :"schema".steps t on t.call_id = o.call_id and t.seq = o.seq
                                  and t.call_id between v_lo and v_hi
   where not exists (select from ins where ins.call_id = o.call_id and ins.seq = o.seq);

  update :"schema".calls cl set workflow_version = x.version
    from jsonb_to_recordset(ops) as x(call_id bigint, version text)
   where x.version is not null and cl.id = x.call_id and cl.workflow_version is null
     and cl.id between v_lo and v_hi;

  if not exists (select from jsonb_array_elements(ops) e where e ->> 'op' <> 'put') then
    return;
  end if;

  -- Child calls (a gather's are dozens) in one statement, as dispatch_many
  -- makes calls, with one notification; one by one, each dispatch cost a
  -- subtransaction (a transaction writing more than 64 of them slows every
  -- other session's snapshots) and a notification of its own. Should any
  -- fail (a bad option, an unknown function, a step another run recorded
  -- meanwhile), none is made here and the loop below takes each on its own,
  -- so the bad one fails alone. A call op whose step exists is the loop's.
  if exists (select from jsonb_array_elements(ops) e where e ->> 'op' = 'call') then
    begin
      with k as (
        select x.i, x.call_id, x.seq, x.name, x.fn, coalesce(x.input, 'null'::jsonb) as input,
               coalesce(x.options, '{}') as options
          from jsonb_to_recordset(ops) as x(op text, i integer, call_id bigint, seq integer,
                                            name text, fn text, input jsonb, options jsonb)
         where x.op = 'call'
           and not exists (select from :"schema".steps s0
                            where s0.call_id = x.call_id and s0.seq = x.seq
                              and s0.call_id between v_lo and v_hi)
      ), g as (
        -- Settings once per function, options and endpoint (a gather's
        -- children mostly share them): all they depend on.
        select distinct on (k.fn, k.options, k.input -> 'endpoint') k.fn, k.options,
               k.input -> 'endpoint' as ep, k.input
          from k
      ), gs as (
        select g.fn, g.options, g.ep, ds.retry_policy, ds.max_attempts, ds.priority, ds.run_at,
               :"schema".task_id(g.fn) as task
          from g cross join lateral :"schema".dispatch_settings(g.fn, g.options, g.input) ds
      ), d as (
        -- The child carries the parent's trace context, as its job's payload
        -- does. Its job's id is taken here, from the column's own sequence,
        -- so the call row needs no join back to the inserted jobs.
        select k.i, k.call_id, k.seq, k.name, k.fn, k.input, gs.retry_policy, gs.max_attempts,
               gs.priority, gs.run_at, gs.task, p0.trace_context as trace,
               (select :"schema".call_day_base()) + nextval(':"schema".calls_id_seq'::regclass) % 8589934592 as child,
               nextval((select pg_get_serial_sequence('graphile_worker._private_jobs', 'id'))::regclass) as job
          from k
          join gs on gs.fn = k.fn and gs.options = k.options
                 and gs.ep is not distinct from k.input -> 'endpoint'
          left join :"schema".calls p0 on p0.id = k.call_id and p0.id between v_lo and v_hi
         order by k.i
      ), jobs as (
        insert into graphile_worker._private_jobs (id, task_id, payload, run_at, max_attempts,
                                                   priority)
        overriding system value
        select d.job, d.task, :"schema".job_payload(d.child, 1, d.input, d.trace),
               coalesce(d.run_at, now()), :"schema".job_max_attempts(), d.priority
          from d order by d.i
      ), made as (
        insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                     next_attempt_at, job_id, parent_call_id, trace_context)
        select d.child, d.fn, d.input, d.retry_policy, d.max_attempts, d.priority,
               coalesce(d.run_at, now()), d.job, d.call_id, d.trace
          from d
      ), stepped as (
        insert into :"schema".steps (call_id, seq, name, kind, status, child_call_id)
        select d.call_id, d.seq, d.name, 'call', 'waiting', d.child from d
      )
      select coalesce(array_agg(d.i), '{}'), array_agg(d.child) into v_call_i, v_call_child from d;
    exception when others then
      v_call_i := '{}';
    end;
    if cardinality(v_call_i) > 0 then
      perform :"schema".notify_jobs(cardinality(v_call_i), 0);
      return query
      select q.i, 'waiting'::text, null::jsonb, null::text, null::timestamptz, q.child, null::integer, true
        from unnest(v_call_i, v_call_child) as q(i, child);
    end if;
  end if;

  for r in
    select x.* from jsonb_to_recordset(ops) as x(
      op text, i integer, call_id bigint, seq integer, name text, kind text, attempts integer,
      error text, started_ms double precision, duration_ms double precision,
      policy text, wake_ms double precision, key text, fn text, input jsonb, options jsonb,
      job_id bigint, attempt integer, blocked integer[], need_all boolean, need_any boolean,
      reason text)
     where x.op <> 'put' and not x.i = any(v_call_i)
     order by x.i
  loop
    i := r.i; status := null; output := null; error := null; wake_at := null;
    child_call_id := null; attempts := null; recorded := true;

    if r.op = 'suspend' then
      delete from graphile_worker._private_jobs j where j.id = r.job_id;
      select * into c from :"schema".calls c0 where c0.id = r.call_id for update;
      if not found or c.attempts >= r.attempt then
        recorded := false; status := c.status;
        return next;
        continue;
      end if;
      insert into :"schema".attempts (call_id, attempt, started_at, finished_at, duration_ms,
                                      status, error, worker)
      values (r.call_id, r.attempt, to_timestamp(r.started_ms / 1000),
              to_timestamp((r.started_ms + r.duration_ms) / 1000), r.duration_ms, 'suspended',
              r.reason, worker);
      if c.status = 'cancelled' then
        update :"schema".calls c1 set attempts = r.attempt, job_id = null where c1.id = c.id;
        status := 'cancelled';
        return next;
        continue;
      end if;
      select count(*) filter (where s0.status in ('waiting', 'retrying')),
             count(*) filter (where s0.status = 'succeeded'),
             min(s0.wake_at) filter (where s0.status in ('waiting', 'retrying'))
        into v_open, v_ok, v_wake
        from :"schema".steps s0 where s0.call_id = c.id and s0.seq = any(r.blocked);
      -- How many awaited steps must still finish: all of a gather; of a
      -- ctx.any, all unless one succeeded; else the first.
      v_need := case when r.need_all then v_open
                     when r.need_any then case when v_ok > 0 then 0 else v_open end
                     when v_open < cardinality(r.blocked) then 0 else 1 end;
      if v_need = 0 or v_wake <= now() then
        v_job := :"schema".insert_job(
          c.function, :"schema".job_payload(c.id, r.attempt + 1, c.input, c.trace_context),
          now(), c.priority);
        update :"schema".calls c1 set status = 'pending', attempts = r.attempt, job_id = v_job,
               next_attempt_at = now(), wake_need = 0, wake_steps = null, wake_any = null
         where c1.id = c.id;
        status := 'pending'; wake_at := now();
      else
        v_job := null;
        if v_wake is not null then
          v_job := :"schema".insert_job(
            c.function, :"schema".job_payload(c.id, r.attempt + 1, c.input, c.trace_context),
            v_wake, c.priority);
        end if;
        update :"schema".calls c1 set status = 'waiting', attempts = r.attempt, job_id = v_job,
               next_attempt_at = v_wake, wake_need = v_need, wake_steps = r.blocked,
               wake_any = coalesce(r.need_any, false)
         where c1.id = c.id;
        status := 'waiting'; wake_at := v_wake;
      end if;
      return next;
      continue;
    end if;

    -- Every other op begins a step: one recorded already (another worker's
    -- run of the same call) stands.
    select * into st from :"schema".steps s0 where s0.call_id = r.call_id and s0.seq = r.seq;
    if found and st.status not in ('waiting', 'retrying') then
      status := st.status; output := st.output; error := st.error; wake_at := st.wake_at;
      child_call_id := st.child_call_id; attempts := st.attempts; recorded := false;
      return next;
      continue;
    end if;

    if r.op = 'fail' then
      select * into p from :"schema".retry_policies p0 where p0.name = coalesce(r.policy, 'default');
      if not found then
        status := 'failed';
        error := format('%s (and its retry policy %L does not exist)', r.error, r.policy);
      elsif r.attempts >= p.max_attempts then
        status := 'failed';
        error := format('%s (gave up after %s attempts)', r.error, r.attempts);
      else
        status := 'retrying';
        wake_at := now() + :"schema".retry_delay(p, r.attempts);
        error := r.error;
      end if;
      insert into :"schema".steps as t (call_id, seq, name, kind, status, attempts, error,
                                        started_at, finished_at, wake_at)
      values (r.call_id, r.seq, r.name, r.kind, status, r.attempts, error,
              to_timestamp(r.started_ms / 1000), case when status = 'failed' then now() end,
              wake_at)
      on conflict (call_id, seq) do update
        set status = excluded.status, attempts = excluded.attempts, error = excluded.error,
            finished_at = excluded.finished_at, wake_at = excluded.wake_at;
      attempts := r.attempts;
      return next;
      continue;
    end if;

    if found then
      -- A sleep, wait or call already begun: as recorded.
      status := st.status; output := st.output; wake_at := st.wake_at;
      child_call_id := st.child_call_id; recorded := false;
      return next;
      continue;
    end if;

    if r.op = 'sleep' then
      insert into :"schema".steps (call_id, seq, name, kind, status, wake_at)
      values (r.call_id, r.seq, r.name, 'sleep', 'waiting', to_timestamp(r.wake_ms / 1000));
      status := 'waiting'; wake_at := to_timestamp(r.wake_ms / 1000);
    elsif r.op = 'wait' then
      perform pg_advisory_xact_lock(hashtext('pgdispatch:signal:' || r.key));
      select g.id, g.payload into v_sig from :"schema".signals g
       where g.key = r.key and g.consumed_at is null
       order by g.id limit 1
         for update;
      if found then
        update :"schema".signals g set consumed_at = now(), call_id = r.call_id, seq = r.seq
         where g.id = v_sig.id;
        insert into :"schema".steps (call_id, seq, name, kind, status, output, signal_key,
                                     finished_at)
        values (r.call_id, r.seq, r.name, 'wait', 'succeeded', v_sig.payload, r.key, now());
        status := 'succeeded'; output := v_sig.payload;
      else
        insert into :"schema".steps (call_id, seq, name, kind, status, wake_at, signal_key)
        values (r.call_id, r.seq, r.name, 'wait', 'waiting', to_timestamp(r.wake_ms / 1000),
                r.key);
        status := 'waiting'; wake_at := to_timestamp(r.wake_ms / 1000);
      end if;
    elsif r.op = 'call' then
      begin
        s := :"schema".dispatch_settings(r.fn, coalesce(r.options, '{}'), r.input);
        if v_trace_of is distinct from r.call_id then
          select c0.trace_context into v_trace from :"schema".calls c0 where c0.id = r.call_id;
          v_trace_of := r.call_id;
        end if;
        v_child := :"schema".call_id();
        -- The child carries the parent's trace context, as its job's payload does.
        v_job := :"schema".insert_job(
          r.fn, :"schema".job_payload(v_child, 1, coalesce(r.input, 'null'::jsonb), v_trace),
          s.run_at, s.priority);
        insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                     next_attempt_at, job_id, parent_call_id, trace_context)
        values (v_child, r.fn, coalesce(r.input, 'null'::jsonb), s.retry_policy, s.max_attempts,
                s.priority, coalesce(s.run_at, now()), v_job, r.call_id, v_trace);
        insert into :"schema".steps (call_id, seq, name, kind, status, child_call_id)
        values (r.call_id, r.seq, r.name, 'call', 'waiting', v_child);
        status := 'waiting'; child_call_id := v_child;
      exception when others then
        -- The step fails with the reason, unless another run of this call (a
        -- worker taking over one presumed dead) recorded it meanwhile: the
        -- child dispatched here rolled back with this block, and the other
        -- run's step (and child) stands.
        insert into :"schema".steps (call_id, seq, name, kind, status, error, finished_at)
        values (r.call_id, r.seq, r.name, 'call', 'failed', sqlerrm, now())
        on conflict (call_id, seq) do nothing;
        if found then
          status := 'failed'; error := sqlerrm;
        else
          select * into st from :"schema".steps s0 where s0.call_id = r.call_id and s0.seq = r.seq;
          status := st.status; output := st.output; error := st.error; wake_at := st.wake_at;
          child_call_id := st.child_call_id; attempts := st.attempts; recorded := false;
        end if;
      end;
    end if;
    return next;
  end loop;
end
$$;
