-- Children that reached a final status in one statement (a group commit
-- records dozens): their steps in the parents get the outcomes, and each
-- parent counts them once (steps_finished: only the steps it awaits),
-- parents locked in id order so that two groups finishing children of the
-- same parents cannot deadlock.
create or replace function :"schema".child_finished() returns trigger
language plpgsql as $$
declare
  r record;
  v_lo bigint;
  v_hi bigint;
begin
  -- The parents' lowest and highest id bound the update of their steps, so
  -- it starts with only the partitions of their days.
  select min(n.parent_call_id), max(n.parent_call_id) into v_lo, v_hi
    from finished_new n where n.parent_call_id is not null;
  if v_lo is null then
    return null;
  end if;
  -- A parent's row is locked after its steps are updated, as a suspension
  -- locks it before counting them: a suspension that counts after this
  -- commits sees these finished; one that counted before holds the lock
  -- until this can see the parent waiting.
  for r in
    with fin as (
      select n.id, n.parent_call_id, n.status, n.function, n.output, n.last_error
        from finished_new n join finished_old o on o.id = n.id
       where n.parent_call_id is not null
         and n.status in ('succeeded', 'failed', 'cancelled')
         and o.status not in ('succeeded', 'failed', 'cancelled')
    ), done as (
      update :"schema".steps s set
        status = case when fin.status = 'succeeded' then 'succeeded' else 'failed' end,
        output = case when fin.status = 'succeeded' then fin.output end,
        error = case when fin.status = 'succeeded' then null
                     else format('child call %s (%s) %s: %s', fin.id, fin.function, fin.status,
                                 coalesce(fin.last_error, 'no error recorded')) end,
        finished_at = now()
        from fin
       where s.child_call_id = fin.id and s.call_id = fin.parent_call_id and s.status = 'waiting'
         and s.call_id between v_lo and v_hi
      returning s.call_id, s.seq, fin.id as child, fin.status
    )
    select d.call_id, array_agg(d.seq) as seqs,
           coalesce(array_agg(d.seq) filter (where d.status = 'succeeded'), '{}') as ok,
           (array_agg(format('child %s %s', d.child, d.status) order by d.child desc))[1] as reason
      from done d group by d.call_id order by d.call_id
  loop
    perform :"schema".steps_finished(r.call_id, r.seqs, r.ok, r.reason, 'child');
  end loop;
  return null;
end
$$;

-- Statement-level, with transition tables (which allow no column list):
-- one call per statement, however many rows it finished.
drop trigger if exists calls_child_finished on :"schema".calls;
create trigger calls_child_finished
  after update on :"schema".calls
  referencing old table as finished_old new table as finished_new
  for each statement
  execute function :"schema".child_finished();
