-- Dispatch's wake-up notification is optional. A transaction that notifies
-- takes a database-wide lock before its commit and holds it until the commit
-- is flushed, so notifying transactions commit one at a time. The `notify`
-- option of dispatch and dispatch_many: true (or absent) notifies, false does
-- not (the workers' poll finds the call), a number N notifies and tells the
-- workers to claim again N ms later, for the calls an application left
-- unannounced meanwhile (createDispatch's notifyIntervalMs).

-- null: no notification; 0: a plain one; N > 0: claim again after N ms.
create or replace function :"schema".notify_window(options jsonb)
returns integer
language plpgsql immutable as $$
declare
  v jsonb := options -> 'notify';
begin
  if v is null or v = 'true'::jsonb then
    return 0;
  elsif v = 'false'::jsonb then
    return null;
  elsif jsonb_typeof(v) = 'number' and (v #>> '{}')::numeric between 0 and 3600000 then
    return round((v #>> '{}')::numeric)::integer;
  end if;
  raise exception using errcode = 'PD003',
    message = format('pgdispatch: notify must be true, false or milliseconds (0-3600000), got %s', v);
end
$$;
