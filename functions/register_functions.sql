-- Upserts the functions a worker runs. Workers overwrite (they are the
-- source of truth); applications only add missing rows.
create or replace function :"schema".register_functions(defs jsonb, overwrite boolean default false)
returns void
language plpgsql as $$
declare
  bad text;
begin
  select d.retry_policy into bad
    from jsonb_to_recordset(defs) as d(name text, retry_policy text, max_attempts integer)
   where not exists (select from :"schema".retry_policies p where p.name = d.retry_policy)
   limit 1;
  if bad is not null then
    raise exception using errcode = 'PD002',
      message = format('pgdispatch: unknown retry policy %L', bad);
  end if;
  if overwrite then
    insert into :"schema".functions as f (name, retry_policy, max_attempts)
    select d.name, d.retry_policy, d.max_attempts
      from jsonb_to_recordset(defs) as d(name text, retry_policy text, max_attempts integer)
    on conflict (name) do update
      set retry_policy = excluded.retry_policy, max_attempts = excluded.max_attempts,
          updated_at = now()
      where (f.retry_policy, f.max_attempts) is distinct from (excluded.retry_policy, excluded.max_attempts);
  else
    insert into :"schema".functions (name, retry_policy, max_attempts)
    select d.name, d.retry_policy, d.max_attempts
      from jsonb_to_recordset(defs) as d(name text, retry_policy text, max_attempts integer)
    on conflict (name) do nothing;
  end if;
end
$$;
