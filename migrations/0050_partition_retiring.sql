-- Retention detaches a day's partitions concurrently (ALTER TABLE … DETACH
-- PARTITION … CONCURRENTLY), which takes no lock that stops dispatch or
-- recording, but cannot run inside a transaction: a day is first marked
-- retiring, in a transaction of its own, then detached table by table, then
-- dropped. The mark is what a manual retry checks, so no call of a day on its
-- way out can come back to life; a round that was interrupted finds it and
-- finishes the day.
alter table :"schema".partition_days add column retiring_at timestamptz;
comment on column :"schema".partition_days.retiring_at is
  'When retention began to detach this day''s partitions; null while the day is kept.';

-- Replaced by partition_retire and partition_retired_drop, run by the
-- workers' retention between the concurrent detaches.
drop function if exists :"schema".partition_drop(interval, integer);
