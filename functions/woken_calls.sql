-- The workflow calls wake_call woke in this transaction (it lists them in a
-- transaction-local setting), for the recording that hands them to its
-- worker (record_outcomes_take); reading them empties the list.
create or replace function :"schema".woken_calls() returns bigint[]
language plpgsql as $$
declare
  v text := current_setting('pgdispatch.woken_calls', true);
begin
  if v is null or v = '' then
    return '{}';
  end if;
  perform set_config('pgdispatch.woken_calls', '', true);
  return string_to_array(rtrim(v, ','), ',')::bigint[];
end
$$;
