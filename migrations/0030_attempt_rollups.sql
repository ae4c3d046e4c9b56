-- Attempts counted per minute, function and endpoint, for the dashboard's
-- stats: a window of a day reads 1,440 minutes of a few rows each instead of
-- every attempt in it. A maintenance service (src/maintain/rollup.ts) adds the
-- attempts past a watermark (attempts.id), off the worker's recording path.
create table :"schema".attempt_rollups (
  minute timestamptz not null,
  function text not null,
  -- A webhook call's endpoint; '' for other calls.
  endpoint text not null,
  attempts integer not null,
  errors integer not null,
  duration_ms_sum double precision not null,
  -- Attempts per duration bucket: element i counts durations d with
  -- bounds[i-1] <= d < bounds[i] (duration_buckets(); the last is open).
  histogram integer[] not null,
  primary key (minute, function, endpoint)
);

-- How far the rollup has read. Ids are taken at insert and seen at commit, so
-- a smaller id can commit after a larger one: the rollup reads only up to a
-- horizon, the largest id seen at horizon_at, once every transaction of this
-- database that began before horizon_at has ended.
create table :"schema".rollup_state (
  name text primary key,
  last_id bigint not null default 0,
  horizon_id bigint not null default 0,
  horizon_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
insert into :"schema".rollup_state (name) values ('attempts');
