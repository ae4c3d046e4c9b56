-- Quantiles (0..1) of a duration histogram (duration_buckets), read as
-- Prometheus' histogram_quantile does: the bucket holding the rank, linearly
-- between its bounds; in the open last bucket, its lower bound. Null for an
-- empty histogram.
create or replace function :"schema".histogram_quantiles(hist integer[], qs double precision[])
returns double precision[]
language sql immutable strict parallel safe as $$
  with b as (
    select i, n, sum(n) over (order by i) as upto,
           coalesce((:"schema".duration_buckets())[i - 1], 0) as lo,
           (:"schema".duration_buckets())[i] as hi
      from unnest(hist) with ordinality u(n, i)
  ), total as (select sum(n) as t from b)
  select case when t = 0 then null else array(
    select (select case when b.hi is null then b.lo
                        else b.lo + (b.hi - b.lo) * (q * t - (b.upto - b.n)) / nullif(b.n, 0) end
              from b where b.upto >= q * t and b.n > 0 order by b.i limit 1)
      from unnest(qs) with ordinality x(q, k) order by k) end
    from total;
$$;
