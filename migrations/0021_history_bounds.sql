-- History becomes partitioned by call id (0022): the rows written so far
-- become one partition, [MINVALUE, 2^33). These checks prove they fit, so
-- attaching them needs no scan under a strong lock. VALIDATE scans each
-- table with a lock that lets reads and writes go on.
alter table :"schema".calls add constraint calls_legacy_bound check (id < 8589934592) not valid;
alter table :"schema".calls validate constraint calls_legacy_bound;
alter table :"schema".attempts add constraint attempts_legacy_bound check (call_id < 8589934592) not valid;
alter table :"schema".attempts validate constraint attempts_legacy_bound;
alter table :"schema".call_events add constraint call_events_legacy_bound check (call_id < 8589934592) not valid;
alter table :"schema".call_events validate constraint call_events_legacy_bound;
alter table :"schema".steps add constraint steps_legacy_bound check (call_id < 8589934592) not valid;
alter table :"schema".steps validate constraint steps_legacy_bound;
