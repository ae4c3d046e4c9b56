-- Two duration histograms added bucket by bucket, and the aggregate
-- histogram_sum that adds a group's.
create or replace function :"schema".histogram_add(a integer[], b integer[])
returns integer[]
language sql immutable strict parallel safe as $$
  select array_agg(coalesce(x, 0) + coalesce(y, 0) order by i)
    from unnest(a, b) with ordinality u(x, y, i);
$$;

create or replace aggregate :"schema".histogram_sum(integer[]) (
  sfunc = :"schema".histogram_add,
  stype = integer[]
);
