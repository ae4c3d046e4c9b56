-- History partitioned by call id: calls, attempts, call_events and steps are
-- each partitioned BY RANGE on the call id with the same daily bounds. A
-- call id encodes its day: id = (day << 33) + (sequence mod 2^33), day being
-- days since 1970-01-01 UTC (functions/call_id.sql), so a lookup by call id
-- touches one partition of each table and a whole day goes by dropping its
-- partitions. Ids stay below 2^53, exact as JavaScript numbers.
--
-- The rows written before this migration become each table's `_legacy`
-- partition, [MINVALUE, 2^33): renamed and attached, with no copy and no
-- scan (0021 validated the bound). Daily partitions are created ahead by the
-- workers' maintenance (functions/partitions_create.sql).
--
-- The tables' locks are held from the first rename to the commit: catalog
-- changes, and the copy of the idempotency keys into call_keys.

set local search_path = :"schema", pg_catalog;

-- Views over the tables, kept to be created again over the new parents.
create temp table pgd_views on commit drop as
  select distinct v.relname, pg_get_viewdef(v.oid) as def
    from pg_class v
    join pg_rewrite r on r.ev_class = v.oid
    join pg_depend d on d.objid = r.oid and d.classid = 'pg_rewrite'::regclass
    join pg_class t on t.oid = d.refobjid
   where v.relkind = 'v' and v.relnamespace = :'schema'::regnamespace
     and t.relnamespace = :'schema'::regnamespace
     and t.relname in ('calls', 'attempts', 'call_events', 'steps') and v.oid <> t.oid;
do $$
declare v record;
begin
  for v in select relname from pgd_views loop
    execute format('drop view %I.%I', current_schema(), v.relname);
  end loop;
end
$$;

-- No foreign key points at calls any more: a partition referenced by one
-- can only be detached after a check of the referencing rows. Deleting a
-- call deletes its events with it (functions/delete_attempts_of_calls.sql).
alter table call_events drop constraint call_events_call_id_fkey;
drop trigger if exists calls_child_finished on calls;
drop trigger if exists calls_delete_attempts on calls;
drop trigger if exists calls_truncate_attempts on calls;

-- Identity columns become plain sequences, carried on from where they were
-- (a partition cannot have an identity column of its own on Postgres 17).
create sequence calls_id_seq_carried as bigint;
select setval('calls_id_seq_carried', nextval(pg_get_serial_sequence(quote_ident(:'schema') || '.calls', 'id')));
alter table calls alter column id drop identity;
alter sequence calls_id_seq_carried rename to calls_id_seq;
create sequence attempts_id_seq_carried as bigint;
select setval('attempts_id_seq_carried', nextval(pg_get_serial_sequence(quote_ident(:'schema') || '.attempts', 'id')));
alter table attempts alter column id drop identity;
alter sequence attempts_id_seq_carried rename to attempts_id_seq;
create sequence call_events_id_seq_carried as bigint;
select setval('call_events_id_seq_carried', nextval(pg_get_serial_sequence(quote_ident(:'schema') || '.call_events', 'id')));
alter table call_events alter column id drop identity;
alter sequence call_events_id_seq_carried rename to call_events_id_seq;

-- The legacy tables and their indexes give their names to the parents.
alter table calls rename to calls_legacy;
alter index calls_pkey rename to calls_legacy_pkey;
alter index calls_created_at rename to calls_legacy_created_at;
alter index calls_finished_at rename to calls_legacy_finished_at;
alter index calls_parent_call_id rename to calls_legacy_parent_call_id;
alter index calls_function_id rename to calls_legacy_function_id;
alter index calls_endpoint_id rename to calls_legacy_endpoint_id;
alter table attempts rename to attempts_legacy;
alter index attempts_pkey rename to attempts_legacy_pkey;
alter index attempts_id rename to attempts_legacy_id;
alter index attempts_finished_at rename to attempts_legacy_finished_at;
alter table call_events rename to call_events_legacy;
alter index call_events_pkey rename to call_events_legacy_pkey;
alter index call_events_call_id rename to call_events_legacy_call_id;
alter table steps rename to steps_legacy;
alter index steps_pkey rename to steps_legacy_pkey;
alter index steps_child_call_id rename to steps_legacy_child_call_id;
alter index steps_waiting_signal rename to steps_legacy_waiting_signal;

-- The parents: the legacy tables' columns, defaults and checks (LIKE),
-- without the legacy bound; each index matches the legacy partition's, so
-- attaching adopts it instead of building one. Storage parameters (calls'
-- fillfactor) are set on each partition.
create table calls (like calls_legacy including defaults including constraints)
  partition by range (id);
alter table calls drop constraint calls_legacy_bound;
alter table calls add primary key (id);
create index calls_created_at on calls using brin (created_at);
create index calls_finished_at on calls using brin (finished_at);
create index calls_parent_call_id on calls (parent_call_id) where parent_call_id is not null;
create index calls_function_id on calls (function, id);
create index calls_endpoint_id on calls ((input ->> 'endpoint'), id) where function = 'webhook';
alter table calls attach partition calls_legacy for values from (minvalue) to (8589934592);
comment on column calls.trace_context is
  'W3C Trace Context of the dispatch ({"traceparent": "00-…", "tracestate": "…"}), or null when not traced.';
comment on column calls.id is
  '(day << 33) + sequence mod 2^33, day = days since 1970-01-01 UTC: the id names its partition.';

-- attempts.id and call_events.id are unique: each partition has a unique
-- index on its own (a partitioned one would have to hold the call id), and
-- one sequence feeds them all.
create table attempts (like attempts_legacy including defaults including constraints)
  partition by range (call_id);
alter table attempts drop constraint attempts_legacy_bound;
alter table attempts alter column id set default nextval('attempts_id_seq');
alter sequence attempts_id_seq owned by attempts.id;
alter table attempts add primary key (call_id, attempt);
create index attempts_finished_at on attempts using brin (finished_at);
alter table attempts attach partition attempts_legacy for values from (minvalue) to (8589934592);

create table call_events (like call_events_legacy including defaults including constraints)
  partition by range (call_id);
alter table call_events drop constraint call_events_legacy_bound;
alter table call_events alter column id set default nextval('call_events_id_seq');
alter sequence call_events_id_seq owned by call_events.id;
create index call_events_call_id on call_events (call_id, at);
alter table call_events attach partition call_events_legacy for values from (minvalue) to (8589934592);

create table steps (like steps_legacy including defaults including constraints)
  partition by range (call_id);
alter table steps drop constraint steps_legacy_bound;
alter table steps add primary key (call_id, seq);
create index steps_child_call_id on steps (child_call_id) where child_call_id is not null;
create index steps_waiting_signal on steps (signal_key, started_at)
  where status = 'waiting' and signal_key is not null;
alter table steps attach partition steps_legacy for values from (minvalue) to (8589934592);
comment on table steps is
  'The steps of workflow calls: one row per step, output stored once it completed.';

-- Idempotency keys: a unique index on a partitioned table must hold the
-- partition key, so the (function, key) uniqueness lives here. Dispatch
-- inserts the key first; its call_id names the call it belongs to.
create table call_keys (
  function text not null,
  idempotency_key text not null,
  call_id bigint not null,
  primary key (function, idempotency_key)
);
-- Dropping a day's partitions deletes that day's keys by range.
create index call_keys_call_id on call_keys (call_id);
comment on table call_keys is
  'Idempotency keys of calls, unique per function; a row goes with its call.';
insert into call_keys (function, idempotency_key, call_id)
select function, idempotency_key, id from calls_legacy where idempotency_key is not null;
drop index calls_idempotency_key;

-- The days that have their partitions, one row each, written by
-- partitions_create() in the transaction that creates them. New call ids
-- take the latest day here when today has none yet (functions/call_id.sql).
create table partition_days (
  day integer primary key,
  created_at timestamptz not null default now()
);
comment on table partition_days is
  'Days (since 1970-01-01 UTC) whose partitions of calls, attempts, call_events and steps exist.';

-- The triggers again, on the new parent, where their functions exist (a
-- fresh install gets them from the function files, applied next).
do $$
begin
  if to_regprocedure('child_finished()') is not null then
    create trigger calls_child_finished
      after update on calls
      referencing old table as finished_old new table as finished_new
      for each statement execute function child_finished();
  end if;
  if to_regprocedure('delete_attempts_of_calls()') is not null then
    create trigger calls_delete_attempts
      after delete on calls
      referencing old table as gone
      for each statement execute function delete_attempts_of_calls();
  end if;
  if to_regprocedure('truncate_attempts()') is not null then
    create trigger calls_truncate_attempts
      after truncate on calls
      for each statement execute function truncate_attempts();
  end if;
end
$$;

do $$
declare v record;
begin
  for v in select relname, def from pgd_views loop
    execute format('create view %I.%I as %s', current_schema(), v.relname, v.def);
  end loop;
end
$$;

-- prune() takes a third argument with a default (functions/prune.sql): a
-- call with two arguments, a worker of the previous release's, still works.
drop function if exists prune(interval, integer);
