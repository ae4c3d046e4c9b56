-- The SQL API: dispatch, record attempts, cancel, retry, release.
-- Errors use SQLSTATE class PD (see src/errors.ts):
--   PD001 unknown function, PD002 unknown retry policy, PD003 invalid option,
--   PD004 call not found, PD005 invalid state.

-- Jobs get a generous attempt budget: graphile-worker's own retries only
-- cover failures to record an outcome (a database outage), never the
-- function's own failures, whose schedule is the call's retry policy.
create function :"schema".job_max_attempts() returns integer
language sql immutable parallel safe as $$ select 100 $$;

-- The retry policy a function's input implies, if any. Null here; the
-- webhook migration makes a call to an endpoint use the endpoint's policy.
create function :"schema".input_retry_policy(function_name text, input jsonb) returns text
language sql stable as $$ select null::text $$;

create function :"schema".dispatch_settings(
  function_name text, options jsonb, input jsonb,
  out retry_policy text, out max_attempts integer, out priority smallint, out run_at timestamptz
)
language plpgsql stable as $$
declare
  fn :"schema".functions;
  bad text;
begin
  if function_name is null then
    raise exception using errcode = 'PD001', message = 'pgdispatch: function name is null';
  end if;
  select * into fn from :"schema".functions f where f.name = function_name;
  if not found then
    raise exception using errcode = 'PD001',
      message = format('pgdispatch: unknown function %L', function_name),
      hint = 'Register it with dispatch.func() and start a worker (or call dispatch.migrate()) so the database knows it.';
  end if;
  options := coalesce(options, '{}');
  if options <> '{}' then
    if jsonb_typeof(options) <> 'object' then
      raise exception using errcode = 'PD003', message = 'pgdispatch: options must be a JSON object';
    end if;
    select k into bad from jsonb_object_keys(options) k
     where k not in ('run_at', 'idempotency_key', 'retry_policy', 'priority', 'max_attempts')
     limit 1;
    if bad is not null then
      raise exception using errcode = 'PD003',
        message = format('pgdispatch: unknown option %L', bad),
        hint = 'Options are run_at, idempotency_key, retry_policy, priority and max_attempts.';
    end if;
  end if;

  -- The function's and an endpoint's policies exist (foreign keys); only a
  -- policy named in the options needs looking up.
  retry_policy := coalesce(options ->> 'retry_policy',
                           :"schema".input_retry_policy(function_name, input),
                           fn.retry_policy);
  if options ? 'retry_policy'
     and not exists (select from :"schema".retry_policies p where p.name = retry_policy) then
    raise exception using errcode = 'PD002',
      message = format('pgdispatch: unknown retry policy %L', retry_policy),
      hint = format('See select name from %I.retry_policies', :'schema');
  end if;

  begin
    max_attempts := coalesce((options ->> 'max_attempts')::integer, fn.max_attempts);
    priority := coalesce((options ->> 'priority')::smallint, 0);
    run_at := (options ->> 'run_at')::timestamptz;
  exception when others then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: invalid option value: %s', sqlerrm);
  end;
  if max_attempts is not null and max_attempts < 1 then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: max_attempts must be at least 1, got %s', max_attempts);
  end if;
end
$$;

-- Dispatches one call: the call row and its graphile-worker job, in the
-- caller's transaction. Returns the call id; with an idempotency key already
-- used for this function, returns that call's id and adds nothing.
create function :"schema".dispatch(function_name text, input jsonb, options jsonb default '{}')
returns bigint
language plpgsql as $$
declare
  s record;
  v_key text := options ->> 'idempotency_key';
  v_id bigint;
  v_job bigint;
begin
  s := :"schema".dispatch_settings(function_name, options, input);
  if v_key is not null then
    select c.id into v_id from :"schema".calls c
     where c.function = function_name and c.idempotency_key = v_key;
    if found then
      return v_id;
    end if;
  end if;

  v_id := nextval(':"schema".calls_id_seq'::regclass);
  if v_key is null then
    select j.id into v_job from graphile_worker.add_job(
      function_name,
      json_build_object('id', v_id, 'attempt', 1, 'input', coalesce(input, 'null'::jsonb)),
      run_at => s.run_at, max_attempts => :"schema".job_max_attempts(), priority => s.priority) j;
    insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                 next_attempt_at, job_id)
    values (v_id, function_name, coalesce(input, 'null'::jsonb), s.retry_policy, s.max_attempts,
            s.priority, coalesce(s.run_at, now()), v_job);
    return v_id;
  end if;

  -- With a key, two transactions may race to insert it: the loser's
  -- subtransaction (job included) rolls back and it returns the winner's id.
  begin
    select j.id into v_job from graphile_worker.add_job(
      function_name,
      json_build_object('id', v_id, 'attempt', 1, 'input', coalesce(input, 'null'::jsonb)),
      run_at => s.run_at, max_attempts => :"schema".job_max_attempts(), priority => s.priority) j;
    insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                 idempotency_key, next_attempt_at, job_id)
    values (v_id, function_name, coalesce(input, 'null'::jsonb), s.retry_policy, s.max_attempts,
            s.priority, v_key, coalesce(s.run_at, now()), v_job);
  exception when unique_violation then
    select c.id into v_id from :"schema".calls c
     where c.function = function_name and c.idempotency_key = v_key;
  end;
  return v_id;
end
$$;

-- Dispatches a batch of calls to one function in one statement. `inputs` is
-- a JSON array; the ids come back in the order of the inputs.
create function :"schema".dispatch_many(function_name text, inputs jsonb, options jsonb default '{}')
returns setof bigint
language plpgsql as $$
declare
  s record;
begin
  if jsonb_typeof(inputs) is distinct from 'array' then
    raise exception using errcode = 'PD003', message = 'pgdispatch: inputs must be a JSON array';
  end if;
  if options ? 'idempotency_key' then
    raise exception using errcode = 'PD003',
      message = 'pgdispatch: idempotency_key is per call; dispatch_many does not take one';
  end if;
  s := :"schema".dispatch_settings(function_name, options, null);
  return query
  with items as (
    select nextval(':"schema".calls_id_seq'::regclass) as id, e.value, e.ord
      from jsonb_array_elements(inputs) with ordinality e(value, ord)
  ), jobs as (
    select j.id as job_id, (j.payload ->> 'id')::bigint as call_id
      from graphile_worker.add_jobs(array(
        select row(function_name,
                   json_build_object('id', i.id, 'attempt', 1, 'input', i.value),
                   null, s.run_at, :"schema".job_max_attempts(), null, s.priority, null
               )::graphile_worker.job_spec
          from items i order by i.ord)) j
  ), inserted as (
    insert into :"schema".calls (id, function, input, retry_policy, max_attempts, priority,
                                 next_attempt_at, job_id)
    select i.id, function_name, i.value,
           coalesce(options ->> 'retry_policy',
                    -- Only webhook inputs imply a policy; skipping the call for
                    -- other functions saves a function call per row (~8%).
                    case when function_name = 'webhook'
                         then :"schema".input_retry_policy(function_name, i.value) end,
                    s.retry_policy),
           s.max_attempts, s.priority,
           coalesce(s.run_at, now()), jobs.job_id
      from items i join jobs on jobs.call_id = i.id
  )
  -- Every item is inserted (no key can conflict): the ids, in input order.
  select i.id from items i order by i.ord;
end
$$;

-- Records the outcomes of finished attempts, each in the same transaction as
-- the call's new status and, when the outcome is retryable and the policy
-- allows, the job of its next attempt. The job that ran the attempt is
-- deleted here too, so a recorded attempt never runs again. An outcome for
-- an attempt already recorded (a worker presumed dead that finished after
-- all) changes nothing.
create function :"schema".record_attempts(results jsonb)
returns table (call_id bigint, attempt integer, call_status text, next_attempt_at timestamptz,
               recorded boolean)
language plpgsql as $$
declare
  r record;
  c :"schema".calls;
  p :"schema".retry_policies;
  v_status text;
  v_next timestamptz;
  v_job bigint;
  v_max integer;
  v_reason text;
  v_delay interval;
begin
  -- Final outcomes (success, permanent failure), the common case, in one
  -- set-based statement: no policy to read, no job to add. The update's
  -- condition on `attempts` is re-checked against a row a concurrent
  -- transaction changed, so an attempt is never recorded twice.
  return query
  with o as (
    select * from jsonb_to_recordset(results) as x(
      job_id bigint, call_id bigint, attempt integer, started_at timestamptz,
      finished_at timestamptz, duration_ms double precision, status text, http_status integer,
      error text, response jsonb, output jsonb, worker text, retry_after_ms double precision)
     where not :"schema".is_retryable(x.status)
  ), done as (
    delete from graphile_worker._private_jobs j using o where j.id = o.job_id
  ), updated as (
    update :"schema".calls cl set
      status = case when cl.status = 'cancelled' then 'cancelled'
                    when o.status = 'ok' then 'succeeded' else 'failed' end,
      attempts = o.attempt,
      next_attempt_at = null,
      job_id = null,
      finished_at = coalesce(cl.finished_at, o.finished_at),
      last_error = case when o.status = 'ok' then cl.last_error else o.error end,
      output = case when o.status = 'ok' then o.output else cl.output end
    from o
    where cl.id = o.call_id and cl.attempts < o.attempt
    returning cl.id, cl.status
  ), inserted as (
    insert into :"schema".attempts (call_id, attempt, started_at, finished_at, duration_ms, status,
                                    http_status, error, response, worker)
    select o.call_id, o.attempt, o.started_at, o.finished_at, o.duration_ms, o.status,
           o.http_status, o.error, o.response, o.worker
      from o join updated u on u.id = o.call_id
  )
  select o.call_id, o.attempt, u.status, null::timestamptz, u.id is not null
    from o left join updated u on u.id = o.call_id;

  -- Retryable outcomes, one by one: each reads its policy and may add a job.
  for r in
    select * from jsonb_to_recordset(results) as x(
      job_id bigint, call_id bigint, attempt integer, started_at timestamptz,
      finished_at timestamptz, duration_ms double precision, status text, http_status integer,
      error text, response jsonb, output jsonb, worker text, retry_after_ms double precision)
     where :"schema".is_retryable(x.status)
  loop
    delete from graphile_worker._private_jobs j where j.id = r.job_id;
    select * into c from :"schema".calls c0 where c0.id = r.call_id for update;
    if not found or c.attempts >= r.attempt then
      call_id := r.call_id; attempt := r.attempt; call_status := c.status;
      next_attempt_at := c.next_attempt_at; recorded := false;
      return next;
      continue;
    end if;

    insert into :"schema".attempts (call_id, attempt, started_at, finished_at, duration_ms, status,
                                    http_status, error, response, worker)
    values (r.call_id, r.attempt, r.started_at, r.finished_at, r.duration_ms, r.status,
            r.http_status, r.error, r.response, r.worker);

    v_next := null; v_job := null; v_reason := null;
    if c.status = 'cancelled' then
      v_status := 'cancelled';
    else
      select * into p from :"schema".retry_policies p0 where p0.name = c.retry_policy;
      v_max := coalesce(c.max_attempts, p.max_attempts);
      if r.attempt >= v_max then
        v_status := 'failed';
        v_reason := format('gave up after %s attempts (max_attempts %s)', r.attempt, v_max);
      else
        v_delay := :"schema".retry_delay(p, r.attempt);
        if r.retry_after_ms is not null then
          v_delay := greatest(v_delay, least(make_interval(secs => r.retry_after_ms / 1000.0),
                                             :"schema".retry_max_delay(p)));
        end if;
        v_next := now() + v_delay;
        if p.max_age is not null and v_next > c.created_at + p.max_age then
          v_status := 'failed';
          v_reason := format('gave up: next attempt would pass max_age %s', p.max_age);
          v_next := null;
        else
          v_status := 'retrying';
          select j.id into v_job from graphile_worker.add_job(
            c.function,
            json_build_object('id', c.id, 'attempt', r.attempt + 1, 'input', c.input),
            run_at => v_next, max_attempts => :"schema".job_max_attempts(), priority => c.priority) j;
        end if;
      end if;
    end if;

    update :"schema".calls c1 set
      status = v_status,
      attempts = r.attempt,
      next_attempt_at = v_next,
      job_id = v_job,
      finished_at = case when v_status in ('succeeded', 'failed', 'cancelled')
                         then coalesce(c1.finished_at, r.finished_at) end,
      last_error = case when r.status = 'ok' then c1.last_error else r.error end,
      output = case when r.status = 'ok' then r.output else c1.output end
    where c1.id = c.id;

    if v_reason is not null then
      insert into :"schema".call_events (call_id, event, status, attempt, reason, actor)
      values (c.id, 'gave_up', 'failed', r.attempt, v_reason, r.worker);
    end if;

    call_id := r.call_id; attempt := r.attempt; call_status := v_status;
    next_attempt_at := v_next; recorded := true;
    return next;
  end loop;
end
$$;

-- Cancels a pending or retrying call. Returns false when the call is
-- already finished. An attempt running at that moment completes and is
-- recorded, but schedules nothing.
create function :"schema".cancel_call(call_id bigint, reason text default null,
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

-- Schedules a failed or cancelled call again, now. Attempt numbering
-- continues; a call whose attempts are exhausted gets one more.
create function :"schema".retry_call(call_id bigint, actor text default current_user,
                                     reason text default 'manual retry')
returns boolean
language plpgsql as $$
declare
  c :"schema".calls;
  v_job bigint;
begin
  select * into c from :"schema".calls c0 where c0.id = retry_call.call_id for update;
  if not found then
    raise exception using errcode = 'PD004',
      message = format('pgdispatch: call %s not found', retry_call.call_id);
  end if;
  if c.status not in ('failed', 'cancelled') then
    return false;
  end if;
  select j.id into v_job from graphile_worker.add_job(
    c.function,
    json_build_object('id', c.id, 'attempt', c.attempts + 1, 'input', c.input),
    max_attempts => :"schema".job_max_attempts(), priority => c.priority) j;
  update :"schema".calls c1
     set status = 'retrying', finished_at = null, next_attempt_at = now(), job_id = v_job
   where c1.id = c.id;
  insert into :"schema".call_events (call_id, event, status, attempt, reason, actor)
  values (c.id, 'retried', 'retrying', c.attempts + 1, reason, actor);
  return true;
end
$$;

-- Gives a job back to the queue, to run again now, when a worker stops
-- before its attempt finished (shutdown grace period over). The attempt is
-- not recorded; the history says why it will run again.
create function :"schema".release_jobs(jobs jsonb, pool_id text, reason text)
returns integer
language plpgsql as $$
declare
  n integer;
begin
  with released as (
    update graphile_worker._private_jobs j
       set locked_at = null, locked_by = null, run_at = now()
      from jsonb_to_recordset(jobs) as x(job_id bigint, call_id bigint, attempt integer)
     where j.id = x.job_id and j.locked_by = pool_id
    returning x.call_id, x.attempt
  ), events as (
    insert into :"schema".call_events (call_id, event, attempt, reason, actor)
    select released.call_id, 'released', released.attempt, reason, pool_id from released
    returning 1
  )
  select count(*) into n from events;
  return n;
end
$$;

-- Upserts the functions a worker runs. Workers overwrite (they are the
-- source of truth); applications only add missing rows.
create function :"schema".register_functions(defs jsonb, overwrite boolean default false)
returns void
language plpgsql as $$
declare
  bad text;
begin
  select d.retry_policy into bad
    from jsonb_to_recordset(defs) as d(name text, retry_policy text, max_attempts integer)
   where not exists (select from :"schema".retry_policies p where p.name = d.retry_policy)
   limit 1;
  if bad is not null then
    raise exception using errcode = 'PD002',
      message = format('pgdispatch: unknown retry policy %L', bad);
  end if;
  if overwrite then
    insert into :"schema".functions as f (name, retry_policy, max_attempts)
    select d.name, d.retry_policy, d.max_attempts
      from jsonb_to_recordset(defs) as d(name text, retry_policy text, max_attempts integer)
    on conflict (name) do update
      set retry_policy = excluded.retry_policy, max_attempts = excluded.max_attempts,
          updated_at = now()
      where (f.retry_policy, f.max_attempts) is distinct from (excluded.retry_policy, excluded.max_attempts);
  else
    insert into :"schema".functions (name, retry_policy, max_attempts)
    select d.name, d.retry_policy, d.max_attempts
      from jsonb_to_recordset(defs) as d(name text, retry_policy text, max_attempts integer)
    on conflict (name) do nothing;
  end if;
end
$$;

-- Puts a job back to run later without counting an attempt: the function
-- could not start (its destination is saturated), so nothing happened that
-- the history should hold. graphile-worker counted the fetch as one of the
-- job's own attempts; give that back too.
create function :"schema".snooze_jobs(jobs jsonb, pool_id text)
returns integer
language sql as $$
  with snoozed as (
    update graphile_worker._private_jobs j
       set locked_at = null, locked_by = null,
           run_at = now() + make_interval(secs => x.delay_ms / 1000.0),
           attempts = greatest(j.attempts - 1, 0)
      from jsonb_to_recordset(jobs) as x(job_id bigint, delay_ms double precision)
     where j.id = x.job_id and j.locked_by = pool_id
    returning 1
  )
  select count(*)::integer from snoozed
$$;
