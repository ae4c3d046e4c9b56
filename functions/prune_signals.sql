-- Deletes signals sent before now() - older_than that no workflow will
-- take: never consumed (sent to a key nobody waited on in that time), or
-- consumed by a call that has since been pruned. At most batch_size per
-- call, oldest first; callers loop until it returns less than batch_size.
-- A signal consumed by a call still kept stays, as part of its history.
create or replace function :"schema".prune_signals(older_than interval,
                                                   batch_size integer default 1000)
returns integer
language plpgsql as $$
declare
  n integer;
begin
  with doomed as (
    select g.id from :"schema".signals g
     where g.created_at < now() - older_than
       and (g.consumed_at is null
            or not exists (select from :"schema".calls c where c.id = g.call_id))
     order by g.id
     limit batch_size
       for update skip locked
  ), deleted as (
    delete from :"schema".signals g using doomed where g.id = doomed.id returning 1
  )
  select count(*) into n from deleted;
  return n;
end
$$;
