-- Who last enabled or disabled a schedule from the dashboard or the API that
-- takes an actor; null for rows edited with plain SQL.
alter table :"schema".schedules add column changed_by text;
