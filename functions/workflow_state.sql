-- What a run of a workflow call replays: its version, its steps, and the
-- database's clock (timers are due by it).
create or replace function :"schema".workflow_state(p_call bigint) returns json
language sql stable as $$
  select json_build_object(
    'version', (select c.workflow_version from :"schema".calls c where c.id = p_call),
    'now', now(),
    'steps', coalesce((
      select json_agg(json_build_object(
               'seq', s.seq, 'name', s.name, 'kind', s.kind, 'status', s.status,
               'attempts', s.attempts, 'output', s.output, 'error', s.error,
               'wake_at', s.wake_at, 'child', s.child_call_id::text) order by s.seq)
        from :"schema".steps s where s.call_id = p_call), '[]'::json))
$$;
