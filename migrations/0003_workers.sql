-- Operations: live workers and their heartbeats, rescue of a dead worker's
-- calls, retention. graphile-worker alone leaves a dead worker's jobs locked
-- for 4 hours; here any live worker notices a missed heartbeat and gives the
-- jobs back within seconds.

create table :"schema".workers (
  -- graphile-worker's pool id: what this worker's jobs are locked_by.
  id text primary key,
  host text not null,
  pid integer not null,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  concurrency integer not null,
  functions text[] not null default '{}',
  version text
);
create index workers_heartbeat_at on :"schema".workers (heartbeat_at);

comment on table :"schema".workers is
  'Live workers. A row whose heartbeat_at is older than the rescue threshold belongs to a dead worker: the next rescue gives its jobs back and deletes it.';
