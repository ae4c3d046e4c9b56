-- What a run of a workflow call replays: its version, its steps, and the
-- database's clock (timers are due by it); and the call's trace context,
-- which the attempts after a wake-up do not carry in their payload.
create or replace function :"schema".workflow_state(p_call bigint) returns json
language sql stable as $$
  select json_build_object(
    'version', c.workflow_version,
    'trace', c.trace_context,
    'now', now(),
    'steps', coalesce((
      select json_agg(json_build_object(
               'seq', s.seq, 'name', s.name, 'kind', s.kind, 'status', s.status,
               'attempts', s.attempts, 'output', s.output, 'error', s.error,
               'wake_at', s.wake_at, 'child', s.child_call_id::text) order by s.seq)
        from :"schema".steps s where s.call_id = p_call), '[]'::json))
    from (select) one left join :"schema".calls c on c.id = p_call
$$;
