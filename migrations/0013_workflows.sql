-- Workflows: functions made of steps. A workflow is a call like any other;
-- each run of its body is one attempt, which replays the steps recorded in
-- `steps` and runs the first one missing. A run that cannot go on (a sleep,
-- a signal not yet sent, a child still running, a step waiting to retry)
-- is recorded as a `suspended` attempt: the call becomes `waiting` and its
-- next job is its wake-up, so it holds no worker slot meanwhile.

alter table :"schema".calls
  add column parent_call_id bigint,
  add column workflow_version text,
  -- While waiting: how many of the awaited steps (children, signals) must
  -- still finish before the call is woken; 0 once woken.
  add column wake_need integer;

alter table :"schema".calls drop constraint calls_status;
alter table :"schema".calls add constraint calls_status check (
  status in ('pending', 'running', 'retrying', 'waiting', 'succeeded', 'failed', 'cancelled'));
alter table :"schema".calls drop constraint calls_finished;
alter table :"schema".calls add constraint calls_finished check (
  (finished_at is null) = (status in ('pending', 'running', 'retrying', 'waiting')));
-- parent_call_id never changes after the insert, so recording keeps its HOT updates.
create index calls_parent_call_id on :"schema".calls (parent_call_id)
  where parent_call_id is not null;

alter table :"schema".attempts drop constraint attempts_status;
alter table :"schema".attempts add constraint attempts_status check (status in (
  'ok', 'timeout', 'throttled', 'temporary_error', 'permanent_error', 'invalid_argument',
  'invalid_response', 'dns_error', 'tcp_error', 'tls_error', 'http_error',
  'unauthenticated', 'permission_denied', 'not_found', 'suspended'));

-- One row per step of a workflow call, in the order the body reached them.
create table :"schema".steps (
  call_id bigint not null,
  -- 0, 1, 2… in the order the body asked for the steps.
  seq integer not null,
  -- The step's name; its second occurrence in one call is `name#2`.
  name text not null,
  kind text not null,
  status text not null,
  -- Runs of a `step` or `tx` (retries included).
  attempts integer not null default 0,
  output jsonb,
  error text,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  -- kind call: the child call.
  child_call_id bigint,
  -- sleep: when it ends; wait: its timeout; retrying: the next attempt.
  wake_at timestamptz,
  -- kind wait: the signal key it waits for.
  signal_key text,
  primary key (call_id, seq),
  constraint steps_kind check (kind in ('step', 'tx', 'sleep', 'wait', 'call', 'now', 'random',
                                        'patch')),
  constraint steps_status check (status in ('waiting', 'retrying', 'succeeded', 'failed',
                                            'cancelled'))
);
create index steps_child_call_id on :"schema".steps (child_call_id)
  where child_call_id is not null;
create index steps_waiting_signal on :"schema".steps (signal_key, started_at)
  where status = 'waiting' and signal_key is not null;

comment on table :"schema".steps is
  'The steps of workflow calls: one row per step, output stored once it completed.';

-- Signals sent with signal(key, payload). One sent before anything waits
-- for its key is kept until a waitFor consumes it.
create table :"schema".signals (
  id bigint primary key generated always as identity,
  key text not null,
  payload jsonb,
  created_at timestamptz not null default now(),
  consumed_at timestamptz,
  -- The waiting step that received it.
  call_id bigint,
  seq integer
);
create index signals_unconsumed on :"schema".signals (key, id) where consumed_at is null;

-- claim_jobs takes the workflow tasks and returns their steps
-- (functions/claim_jobs.sql): the old signature goes, since a call with
-- five arguments would match both.
drop function if exists :"schema".claim_jobs(text, integer[], integer, smallint, timestamptz);
