-- What a run of a workflow call replays: its version, its steps, and the
-- database's clock (timers are due by it); and the call's trace context,
-- which the attempts after a wake-up do not carry in their payload.
--
-- Each step is an array, [seq, name, kind, status, attempts, output,
-- error, wake_at, child call], in sequence order: a
-- parent gathering 100 children replays 100 steps, and building an object
-- per step cost three times as much as an array (src/workflow/state.ts
-- reads them). PL/pgSQL, not SQL, so the plan is cached for the session:
-- claim_jobs calls it for every workflow job it claims, and a SQL function
-- that cannot be inlined is planned again on every call.
create or replace function :"schema".workflow_state(p_call bigint) returns json
language plpgsql stable
set jit = off
as $$
begin
  return (
    select json_build_object(
      'version', c.workflow_version,
      'trace', c.trace_context,
      'now', now(),
      'steps', coalesce((
        select json_agg(json_build_array(s.seq, s.name, s.kind, s.status, s.attempts, s.output,
                                         s.error, s.wake_at, s.child_call_id::text)
                        order by s.seq)
          from :"schema".steps s where s.call_id = p_call), '[]'::json))
      from (select) one left join :"schema".calls c on c.id = p_call);
end
$$;
