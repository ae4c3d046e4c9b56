-- attempts.call_id has no foreign key: record_outcomes writes attempts only
-- for the call it holds locked, and the per-row key check was a large share
-- of recording. Statement triggers on calls (functions/delete_attempts_of_calls.sql,
-- functions/truncate_attempts.sql) delete a call's attempts with it.
alter table :"schema".attempts drop constraint attempts_call_id_fkey;
