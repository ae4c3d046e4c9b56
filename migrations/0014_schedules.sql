-- Schedules and flow control: cron schedules stored as rows, concurrency
-- and rate limits per key, debounce, adaptive concurrency per webhook
-- origin. Tables and views here; their functions are in functions/.
--
-- Schedules: workers parse the expression (Postgres has no cron parser);
-- each tick becomes one call whose idempotency key names the schedule and
-- the tick, so a tick dispatched twice is still one call.

create table :"schema".schedules (
  name text primary key,
  function text not null,
  -- Five fields (minute), six (seconds first) or seven (year last), or a
  -- nickname such as @hourly; checked by the workers, see `error`.
  cron text not null,
  -- The IANA zone the expression is read in.
  timezone text not null default 'UTC',
  input jsonb not null default 'null',
  -- Call options given to dispatch(): retry_policy, priority, max_attempts.
  options jsonb not null default '{}',
  enabled boolean not null default true,
  -- After a downtime (no worker scheduling for longer than its grace): 0
  -- skips the ticks missed, N runs the latest N of them.
  catch_up integer not null default 0,
  -- The next tick to dispatch; null when the row is new or its expression,
  -- zone or enabled flag changed: a worker sets it to the next tick from now.
  next_tick timestamptz,
  last_tick timestamptz,
  last_call_id bigint,
  -- Why the workers skip this row (a bad expression or zone, a dispatch that
  -- failed); null when healthy. An edit of the row clears it.
  error text,
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint schedules_name check (name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  constraint schedules_cron check (length(cron) between 1 and 256),
  constraint schedules_timezone check (length(timezone) between 1 and 64),
  constraint schedules_options check (jsonb_typeof(options) = 'object'),
  constraint schedules_catch_up check (catch_up between 0 and 1000)
);

comment on table :"schema".schedules is
  'Cron schedules. Edit with plain SQL: a change applies from the next tick; a row the workers cannot use shows why in error.';

-- One row: when a scheduling round last ran, on any worker. A round locks it,
-- so rounds run one at a time across workers, and a long gap since the last
-- one means the ticks inside it were missed (no worker was scheduling).
create table :"schema".scheduler_clock (
  id boolean primary key default true,
  ran_at timestamptz,
  constraint scheduler_clock_one_row check (id)
);
insert into :"schema".scheduler_clock (id, ran_at) values (true, null);

-- Flow control: concurrency limits per key. A call dispatched with a key and
-- a limit runs only while fewer than `limit` calls of its key hold a slot;
-- otherwise it waits in flow_waits, with no job, so it holds no worker slot,
-- and a slot freed goes to the oldest waiter. Calls without a key never
-- touch these tables.

create table :"schema".flow_keys (
  key text primary key,
  -- Calls of the key that may run at once (null: no limit).
  concurrency_limit integer,
  -- At most rate_limit starts per rate_interval (null: no limit); starts
  -- are spaced evenly, rate_next being the earliest time of the next one.
  rate_limit integer,
  rate_interval interval,
  rate_next timestamptz,
  updated_at timestamptz not null default now(),
  constraint flow_keys_key check (length(key) between 1 and 256),
  constraint flow_keys_concurrency_limit check (concurrency_limit is null or concurrency_limit >= 1),
  constraint flow_keys_rate check ((rate_limit is null) = (rate_interval is null)),
  constraint flow_keys_rate_limit check (rate_limit is null or rate_limit >= 1),
  constraint flow_keys_rate_interval check (rate_interval is null or rate_interval > interval '0')
);

comment on table :"schema".flow_keys is
  'Flow-control keys and their limits, as set by the latest dispatch of the key. An edit with SQL applies to the calls that start after it.';

-- The calls that hold a slot of their key: their job is queued or running.
create table :"schema".flow_slots (
  call_id bigint primary key,
  key text not null,
  acquired_at timestamptz not null default now()
);
create index flow_slots_key on :"schema".flow_slots (key);

-- The calls waiting for a slot, in order (call id); `attempt` is the one
-- they will run, `not_before` the earliest it may start (a retry's time).
create table :"schema".flow_waits (
  call_id bigint primary key,
  key text not null,
  reason text not null,
  attempt integer not null default 1,
  not_before timestamptz,
  since timestamptz not null default now(),
  constraint flow_waits_reason check (reason in ('concurrency', 'rate', 'debounce'))
);
create index flow_waits_key on :"schema".flow_waits (key, call_id);

-- Per key: its limit, what runs, what waits.
create view :"schema".flow_state as
  select k.key, k.concurrency_limit, k.rate_limit, k.rate_interval, k.rate_next,
         (select count(*) from :"schema".flow_slots s where s.key = k.key)::integer as running,
         (select count(*) from :"schema".flow_waits w where w.key = k.key)::integer as waiting,
         (select min(w.since) from :"schema".flow_waits w where w.key = k.key) as waiting_since
    from :"schema".flow_keys k;

-- Debounce: of the calls dispatched with one function and key within the
-- window, only the last runs, with its input. The first call of a burst is
-- created due `delay` from now; each later one replaces its input and
-- pushes its start back by `delay` again, and returns its id.
create table :"schema".debounces (
  function text not null,
  key text not null,
  call_id bigint not null,
  run_at timestamptz not null,
  dispatches integer not null default 1,
  primary key (function, key),
  constraint debounces_key check (length(key) between 1 and 256)
);

comment on table :"schema".debounces is
  'Debounced calls waiting for their window to pass: the call that will run, when, and how many dispatches it stands for.';

-- Why a call that has not finished is not running: one row per waiting call.
-- `select * from pgdispatch.call_waits where call_id = 42`.
create view :"schema".call_waits as
  select w.call_id, w.reason, w.key, w.since, w.not_before as until,
         format('waiting for a concurrency slot of %s: %s of %s running, %s waiting ahead of it',
                w.key,
                (select count(*) from :"schema".flow_slots s where s.key = w.key),
                k.concurrency_limit,
                (select count(*) from :"schema".flow_waits w2 where w2.key = w.key and w2.call_id < w.call_id))
           || case when w.not_before > now() then format(', not before %s', w.not_before) else '' end
           as detail
    from :"schema".flow_waits w
    join :"schema".calls c on c.id = w.call_id
    left join :"schema".flow_keys k on k.key = w.key
   where c.status in ('pending', 'retrying')
  union all
  select s.call_id, 'rate', s.key, s.acquired_at, c.next_attempt_at,
         format('rate limit of %s (%s per %s): starts at %s', s.key, k.rate_limit, k.rate_interval,
                c.next_attempt_at)
    from :"schema".flow_slots s
    join :"schema".flow_keys k on k.key = s.key
    join :"schema".calls c on c.id = s.call_id
   where k.rate_limit is not null and c.next_attempt_at > now() and c.attempts = 0
     and c.status = 'pending'
  union all
  select d.call_id, 'debounce', d.key, c.created_at, d.run_at,
         format('debounced on %s: %s dispatch(es) so far; runs at %s unless another comes',
                d.key, d.dispatches, d.run_at)
    from :"schema".debounces d
    join :"schema".calls c on c.id = d.call_id
   where c.status = 'pending' and c.attempts = 0;

-- Adaptive concurrency per destination for the built-in webhook function:
-- each origin's limit on requests in flight, across all workers, starts at a
-- quarter of its bound, rises by one for each limit's worth of good answers
-- (at most one per report) and halves on 429, 503, timeouts and connection
-- errors (at most every half second, so the answers to requests already in
-- flight do not halve it again). Workers report what they saw a few times a
-- second and get back their share of the limit.

alter table :"schema".endpoints add column max_concurrency integer
  constraint endpoints_max_concurrency check (max_concurrency is null or max_concurrency >= 1);
comment on column :"schema".endpoints.max_concurrency is
  'Most requests in flight to this endpoint across all workers, bounding its adaptive limit (null: the workers'' perOriginConcurrency).';

create table :"schema".origin_concurrency (
  origin text primary key,
  -- The current limit across all workers (fractional: additive increase
  -- adds 1/limit per good answer); workers use its integer part.
  concurrency_limit double precision not null,
  -- Its bound: perOriginConcurrency, or an endpoint's max_concurrency.
  max_limit integer not null,
  increases bigint not null default 0,
  decreases bigint not null default 0,
  last_decrease_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint origin_concurrency_limit check (concurrency_limit >= 1 and max_limit >= 1)
);

-- Recent changes of the integer limit, newest kept per origin.
create table :"schema".origin_concurrency_changes (
  id bigint primary key generated always as identity,
  origin text not null,
  at timestamptz not null default now(),
  from_limit integer not null,
  to_limit integer not null,
  reason text not null
);
create index origin_concurrency_changes_origin on :"schema".origin_concurrency_changes (origin, id);

-- The workers sending to each origin lately, to split its limit among them.
create table :"schema".origin_concurrency_workers (
  origin text not null,
  worker text not null,
  seen_at timestamptz not null default now(),
  primary key (origin, worker)
);

-- Per endpoint: its origin's adaptive limit and latest change.
create view :"schema".endpoint_concurrency as
  select e.name as endpoint, oc.origin, floor(oc.concurrency_limit)::integer as concurrency_limit,
         oc.max_limit, e.max_concurrency, oc.increases, oc.decreases, oc.updated_at,
         (select format('%s -> %s at %s: %s', ch.from_limit, ch.to_limit, ch.at, ch.reason)
            from :"schema".origin_concurrency_changes ch
           where ch.origin = oc.origin order by ch.id desc limit 1) as last_change
    from :"schema".endpoints e
    join :"schema".origin_concurrency oc
      on oc.origin = substring(e.url from '^(https?://[^/?#]+)');
