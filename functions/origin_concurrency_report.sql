-- A worker's report: per origin, the good and the overloaded answers since
-- its last report and its bound. Returns the origin's limit and this
-- worker's share of it (the limit split evenly among the workers that
-- reported in the last 3 seconds).
create or replace function :"schema".origin_concurrency_report(worker text, reports jsonb)
returns table (origin text, concurrency_limit double precision, share integer)
language plpgsql as $$
declare
  r record;
  o :"schema".origin_concurrency;
  v_new double precision;
  v_reason text;
  v_n integer;
  v_rank integer;
  v_int integer;
begin
  for r in
    select * from jsonb_to_recordset(reports) as x(origin text, ok integer, overload integer, max integer)
     order by x.origin
  loop
    insert into :"schema".origin_concurrency as oc (origin, concurrency_limit, max_limit)
    values (r.origin, greatest(r.max / 4.0, 1), greatest(r.max, 1))
    on conflict on constraint origin_concurrency_pkey do nothing;
    select * into o from :"schema".origin_concurrency oc where oc.origin = r.origin for update;
    v_new := o.concurrency_limit;
    v_reason := null;
    if coalesce(r.overload, 0) > 0 then
      if o.last_decrease_at is null or o.last_decrease_at < now() - interval '500 milliseconds' then
        v_new := greatest(1, o.concurrency_limit / 2);
        v_reason := format('%s overloaded answer(s): 429, 503, timeout or connection error', r.overload);
        o.last_decrease_at := now();
        o.decreases := o.decreases + 1;
      end if;
    elsif coalesce(r.ok, 0) > 0
          and (o.last_decrease_at is null or o.last_decrease_at < now() - interval '500 milliseconds') then
      -- Not right after a decrease: the answers of requests sent before it
      -- say nothing of the new limit.
      v_new := o.concurrency_limit + least(1, r.ok / o.concurrency_limit);
      v_reason := format('%s good answer(s)', r.ok);
      o.increases := o.increases + 1;
    end if;
    v_new := least(v_new, greatest(r.max, 1));
    if floor(v_new) <> floor(o.concurrency_limit) then
      insert into :"schema".origin_concurrency_changes (origin, from_limit, to_limit, reason)
      values (r.origin, floor(o.concurrency_limit), floor(v_new),
              coalesce(v_reason, format('bound lowered to %s', r.max)));
      delete from :"schema".origin_concurrency_changes ch
       where ch.origin = r.origin
         and ch.id < (select min(id) from (select c2.id from :"schema".origin_concurrency_changes c2
                                             where c2.origin = r.origin order by c2.id desc limit 100) last);
    end if;
    update :"schema".origin_concurrency oc
       set concurrency_limit = v_new, max_limit = greatest(r.max, 1),
           increases = o.increases, decreases = o.decreases,
           last_decrease_at = o.last_decrease_at, updated_at = now()
     where oc.origin = r.origin;

    insert into :"schema".origin_concurrency_workers as w (origin, worker) values (r.origin, worker)
    on conflict on constraint origin_concurrency_workers_pkey do update set seen_at = now();
    delete from :"schema".origin_concurrency_workers w
     where w.origin = r.origin and w.seen_at < now() - interval '1 minute';
    select count(*), count(*) filter (where w.worker < origin_concurrency_report.worker)
      into v_n, v_rank
      from :"schema".origin_concurrency_workers w
     where w.origin = r.origin and w.seen_at > now() - interval '3 seconds';
    v_int := floor(v_new);
    origin := r.origin;
    concurrency_limit := v_new;
    share := v_int / greatest(v_n, 1) + case when v_rank < v_int % greatest(v_n, 1) then 1 else 0 end;
    return next;
  end loop;
end
$$;
