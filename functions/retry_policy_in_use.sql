create or replace function :"schema".retry_policy_in_use() returns trigger
language plpgsql as $$
begin
  if exists (select from :"schema".calls c where c.retry_policy = old.name) then
    raise exception using errcode = '23503',
      message = format('pgdispatch: retry policy %L is used by calls', old.name),
      hint = 'Edit the policy instead, or prune the calls that use it.';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;

drop trigger if exists retry_policies_delete_in_use on :"schema".retry_policies;
create trigger retry_policies_delete_in_use
  before delete on :"schema".retry_policies
  for each row execute function :"schema".retry_policy_in_use();

drop trigger if exists retry_policies_rename_in_use on :"schema".retry_policies;
create trigger retry_policies_rename_in_use
  before update of name on :"schema".retry_policies
  for each row when (old.name is distinct from new.name)
  execute function :"schema".retry_policy_in_use();
