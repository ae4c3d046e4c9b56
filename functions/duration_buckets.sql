-- The fixed upper bounds (ms) of the duration histogram of attempt_rollups:
-- about 25% apart from 1 ms to 10 minutes, so a percentile read from it is
-- within a bucket's width of the exact one. Changing them needs a new
-- rollup: the stored histograms are counts of these buckets.
create or replace function :"schema".duration_buckets()
returns double precision[]
language sql immutable parallel safe as $$
  select array[1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150,
               200, 250, 300, 400, 500, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000,
               6000, 8000, 10000, 12000, 15000, 20000, 25000, 30000, 40000, 50000, 60000, 120000,
               300000, 600000]::double precision[];
$$;
