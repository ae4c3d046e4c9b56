-- What the dashboard reads, through indexes at any table size.
--
-- Attempts get an id in insert order: the live tail reads `id > $cursor`, and
-- a reconnecting browser resumes from the last id it saw. Attempts are only
-- ever inserted, so this index costs an insert and never blocks HOT updates.
alter table :"schema".attempts add column id bigint generated always as identity;
create unique index attempts_id on :"schema".attempts (id);
-- Charts read a bounded time window of attempts; BRIN costs next to nothing.
create index attempts_finished_at on :"schema".attempts using brin (finished_at);

-- Calls of one function, newest first (the calls list's keyset). `function`
-- and `input` never change after dispatch, so these keep recording's updates
-- of a call HOT.
create index calls_function_id on :"schema".calls (function, id);
-- Webhook calls of one endpoint, newest first.
create index calls_endpoint_id on :"schema".calls ((input ->> 'endpoint'), id)
  where function = 'webhook';
