-- The day part of a new call's id (functions/call_id.sql): day << 33, the
-- day being today's, or the latest day before it whose partitions exist
-- (partition_days), or 0 (the legacy partition) before any. A statement
-- that makes many ids reads it once, as `(select call_day_base())`.
-- PL/pgSQL, so its query is planned once per session: as SQL it could not
-- be inlined (a subquery) and was planned again for every statement that
-- made an id, every dispatch among them.
create or replace function :"schema".call_day_base() returns bigint
language plpgsql stable as $$
begin
  return coalesce((select max(p.day) from :"schema".partition_days p
                    where p.day <= (now() at time zone 'UTC')::date - date '1970-01-01'), 0)::bigint << 33;
end
$$;
