-- The name of a table's partition for a day (days since 1970-01-01 UTC):
-- calls_p20260314.
create or replace function :"schema".partition_name(table_name text, day integer)
returns text
language sql immutable as $$
  select table_name || '_p' || to_char(date '1970-01-01' + day, 'YYYYMMDD')
$$;
