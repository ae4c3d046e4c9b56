-- Deletes finished calls (their attempts, steps, events and keys go with
-- them, functions/delete_attempts_of_calls.sql) that finished before
-- now() - older_than, at most batch_size per call, so no statement holds
-- locks for long; callers loop until it returns less than batch_size.
-- With kept_only, only calls of days past the window, which dropping their
-- partitions (partition_retire) could not take because a call there had not
-- finished, and of the legacy partition: the days retention drops whole are
-- left to it.
create or replace function :"schema".prune(older_than interval, batch_size integer default 1000,
                                           kept_only boolean default false)
returns integer
language plpgsql as $$
declare
  n integer;
  v_below bigint := case when kept_only
                         then (((now() - older_than) at time zone 'UTC')::date
                               - date '1970-01-01')::bigint << 33 end;
begin
  if older_than is null or older_than < interval '0' then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: older_than must be a positive interval, got %s', older_than);
  end if;
  if batch_size is null or batch_size < 1 then
    raise exception using errcode = 'PD003',
      message = format('pgdispatch: batch_size must be at least 1, got %s', batch_size);
  end if;
  with doomed as (
    select c.id from :"schema".calls c
     where c.finished_at < now() - older_than
       and c.status in ('succeeded', 'failed', 'cancelled')
       and (v_below is null or c.id < v_below)
     -- No order: any old rows will do, and the BRIN index cannot sort.
     limit batch_size
       for update skip locked
  ), deleted as (
    delete from :"schema".calls c using doomed where c.id = doomed.id returning 1
  )
  select count(*) into n from deleted;
  return n;
end
$$;
