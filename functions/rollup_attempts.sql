-- Adds the attempts past the rollup's watermark to attempt_rollups, at most
-- max_rows of them, and returns how many it added (0 when another session
-- holds the rollup, or nothing is final yet). It reads attempts by id
-- (attempts_id) and each one's call by primary key, never a time range of
-- either table. Ids up to the horizon are final once no transaction of this
-- database that began before horizon_at is still running (a transaction
-- holding a smaller id began before the larger id was taken); a transaction
-- open for over a minute is not waited for. Minutes older than 90 days go.
create or replace function :"schema".rollup_attempts(max_rows integer)
returns integer
language plpgsql
as $$
declare
  st :"schema".rollup_state;
  upto bigint;
  added integer := 0;
begin
  if not pg_try_advisory_xact_lock(hashtext(:'schema' || ':rollup_attempts')) then
    return 0;
  end if;
  select * into st from :"schema".rollup_state where name = 'attempts' for update;

  if st.horizon_id > st.last_id
     and (st.horizon_at < now() - interval '1 minute'
          or not exists (select from pg_stat_activity sa
                          where sa.datname = current_database() and sa.pid <> pg_backend_pid()
                            and sa.backend_xid is not null
                            -- Another role's session may hide its start: wait for it too.
                            and (sa.xact_start is null or sa.xact_start <= st.horizon_at))) then
    select max(x.id) into upto
      from (select a.id from :"schema".attempts a
             where a.id > st.last_id and a.id <= st.horizon_id
             order by a.id limit max_rows) x;
    -- Nothing left below the horizon (rows deleted meanwhile): all of it is read.
    upto := coalesce(upto, st.horizon_id);
    with a as (
      select date_trunc('minute', a.finished_at) as minute, c.function,
             coalesce(case when c.function = 'webhook' then c.input ->> 'endpoint' end, '') as endpoint,
             a.status <> 'ok' as error, a.duration_ms,
             width_bucket(a.duration_ms, :"schema".duration_buckets()) + 1 as bucket
        from :"schema".attempts a
        join :"schema".calls c on c.id = a.call_id
       where a.id > st.last_id and a.id <= upto
    ), per_bucket as (
      select a.minute, a.function, a.endpoint, a.bucket, count(*)::integer as n,
             count(*) filter (where a.error)::integer as errors, sum(a.duration_ms) as ms
        from a group by 1, 2, 3, 4
    ), per_minute as (
      select p.minute, p.function, p.endpoint, sum(p.n)::integer as n, sum(p.errors)::integer as errors,
             sum(p.ms) as ms,
             array(select coalesce(sum(p2.n), 0)::integer
                     from generate_series(1, cardinality(:"schema".duration_buckets()) + 1) g(i)
                     left join unnest(array_agg(p.bucket), array_agg(p.n)) p2(bucket, n) on p2.bucket = g.i
                    group by g.i order by g.i) as histogram
        from per_bucket p group by 1, 2, 3
    ), upserted as (
      insert into :"schema".attempt_rollups as r
             (minute, function, endpoint, attempts, errors, duration_ms_sum, histogram)
      select m.minute, m.function, m.endpoint, m.n, m.errors, m.ms, m.histogram from per_minute m
      on conflict (minute, function, endpoint) do update set
        attempts = r.attempts + excluded.attempts,
        errors = r.errors + excluded.errors,
        duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
        histogram = :"schema".histogram_add(r.histogram, excluded.histogram)
    )
    -- The insert runs whether or not this reads it.
    select coalesce(sum(m.n), 0)::integer into added from per_minute m;
    st.last_id := upto;
  end if;

  -- Minutes past keeping (the primary key leads with the minute).
  delete from :"schema".attempt_rollups r where r.minute < now() - interval '90 days';

  -- The horizon read, a new one: the largest id now (attempts_id, backwards).
  if st.last_id >= st.horizon_id then
    select coalesce(max(a.id), st.last_id) into st.horizon_id from :"schema".attempts a;
    st.horizon_at := clock_timestamp();
  end if;
  update :"schema".rollup_state set last_id = st.last_id, horizon_id = st.horizon_id,
         horizon_at = st.horizon_at, updated_at = now()
   where name = 'attempts';
  return added;
end
$$;
