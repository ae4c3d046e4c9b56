-- The worker's recording statement: the worker id comes once per
-- statement, an attempt's start is epoch milliseconds (its end is start +
-- duration), and only the outcomes the worker cannot foresee come back. A
-- recorded final outcome leaves its call succeeded (ok) or failed (anything
-- else), so the worker is told only of calls cancelled meanwhile, of attempts
-- already recorded, and of every retryable outcome (its call's status and
-- next attempt depend on the policy). A retry's job is added by insert_job,
-- as a dispatch's first one is.
create or replace function :"schema".record_outcomes(worker text, outcomes jsonb)
returns table (call_id bigint, attempt integer, call_status text, next_attempt_at timestamptz,
               recorded boolean)
language plpgsql
-- Each outcome finds its job and its call through their primary keys, named
-- in the index conditions (`= any(...)`). Joined to the batch alone, the
-- planner read both tables whole, by a sequential scan while they looked
-- small (a queue table is analyzed empty; calls grows from nothing) and, in
-- the generic plan a session settles on, by a full scan of the calls
-- primary key: every recording read every call there is. The batch's
-- lowest and highest call id bound the update too: `= any(...)` alone
-- prunes no partition (every day's primary key would be searched for every
-- id); with the bounds as parameters the plan keeps only the days the batch
-- holds (usually one) when it starts. That plan is forced: planned afresh
-- each time the update keeps one partition, which makes its estimate lower
-- than the generic plan's, so Postgres would plan every recording again.
set enable_seqscan = off
set jit = off
set plan_cache_mode = force_generic_plan
as $$
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
  v_lo bigint;
  v_hi bigint;
begin
  select min(x.call_id), max(x.call_id) into v_lo, v_hi
    from jsonb_to_recordset(outcomes) as x(call_id bigint);
  -- Final outcomes in one set-based statement; the
  -- update returns what the attempt row needs, so nothing joins back.
  return query
  with o as (
    select x.job_id, x.call_id, x.attempt, to_timestamp(x.started_ms / 1000) as started_at,
           to_timestamp((x.started_ms + x.duration_ms) / 1000) as finished_at, x.duration_ms,
           x.status, x.http_status, x.error, x.response, x.output
      from jsonb_to_recordset(outcomes) as x(
        job_id bigint, call_id bigint, attempt integer, started_ms double precision,
        duration_ms double precision, status text, http_status integer, error text,
        response jsonb, output jsonb)
     where not :"schema".is_retryable(x.status)
  ), done as (
    delete from graphile_worker._private_jobs j where j.id = any(array(select o.job_id from o))
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
    where cl.id = any(array(select o.call_id from o)) and cl.id between v_lo and v_hi
      and cl.id = o.call_id and cl.attempts < o.attempt
    returning cl.id, cl.status as call_status, o.attempt, o.started_at, o.finished_at,
              o.duration_ms, o.status, o.http_status, o.error, o.response
  ), inserted as (
    insert into :"schema".attempts (call_id, attempt, started_at, finished_at, duration_ms, status,
                                    http_status, error, response, worker)
    select u.id, u.attempt, u.started_at, u.finished_at, u.duration_ms, u.status,
           u.http_status, u.error, u.response, worker
      from updated u
  )
  -- Already recorded (by a worker that took the call over)...
  select o.call_id, o.attempt, null::text, null::timestamptz, false
    from o where not exists (select from updated u where u.id = o.call_id)
  union all
  -- ...or recorded, but the call was cancelled meanwhile.
  select u.id, u.attempt, u.call_status, null::timestamptz, true
    from updated u
   where u.call_status <> case when u.status = 'ok' then 'succeeded' else 'failed' end;

  -- Retryable outcomes, one by one: each reads its policy and may add a job.
  -- Most groups have none, and this look costs less than the loop's parse.
  if not exists (select from jsonb_array_elements(outcomes) e
                  where :"schema".is_retryable(e ->> 'status')) then
    return;
  end if;
  for r in
    select x.job_id, x.call_id, x.attempt, to_timestamp(x.started_ms / 1000) as started_at,
           to_timestamp((x.started_ms + x.duration_ms) / 1000) as finished_at, x.duration_ms,
           x.status, x.http_status, x.error, x.response, x.output, x.retry_after_ms
      from jsonb_to_recordset(outcomes) as x(
        job_id bigint, call_id bigint, attempt integer, started_ms double precision,
        duration_ms double precision, status text, http_status integer, error text,
        response jsonb, output jsonb, retry_after_ms double precision)
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
            r.http_status, r.error, r.response, worker);

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
          -- The next attempt's job, as dispatch adds the first.
          v_job := :"schema".insert_job(
            c.function, :"schema".job_payload(c.id, r.attempt + 1, c.input, c.trace_context),
            v_next, c.priority);
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
      values (c.id, 'gave_up', 'failed', r.attempt, v_reason, worker);
    end if;

    call_id := r.call_id; attempt := r.attempt; call_status := v_status;
    next_attempt_at := v_next; recorded := true;
    return next;
  end loop;
end
$$;
