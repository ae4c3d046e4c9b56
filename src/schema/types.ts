/**
 * Row types of the pgdispatch schema: the one place they are declared. Kysely
 * users can type a database with `PgDispatchDatabase`; the API returns these.
 */
import type { ColumnType, Generated, Selectable } from 'kysely';
import type { AttemptStatus, CallStatus } from '../core/outcome.js';

/** A timestamptz column: read as a Date, written as a Date or an ISO string. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface CallsTable {
  id: Generated<string>;
  function: string;
  input: unknown;
  status: CallStatus;
  attempts: number;
  retry_policy: string;
  max_attempts: number | null;
  priority: number;
  idempotency_key: string | null;
  created_at: Timestamp;
  next_attempt_at: Timestamp | null;
  finished_at: Timestamp | null;
  last_error: string | null;
  output: unknown;
  job_id: string | null;
  /** The dispatch's W3C trace context (`traceparent`, `tracestate`), when it was traced. */
  trace_context: { traceparent: string; tracestate?: string } | null;
  /** The workflow that started this call with `ctx.call`. */
  parent_call_id: string | null;
  /** A workflow's code version, recorded by its first run. */
  workflow_version: string | null;
  /** A waiting workflow: awaited steps still to finish before it wakes. */
  wake_need: number | null;
  /** A waiting workflow: the seqs of the steps it awaits (null: any of its steps). */
  wake_steps: number[] | null;
  /** A waiting workflow awaiting `ctx.any`: the first awaited step to succeed wakes it. */
  wake_any: boolean | null;
}

export interface AttemptsTable {
  /** Increasing in the order attempts are recorded (the dashboard's live tail follows it). */
  id: Generated<string>;
  call_id: string;
  attempt: number;
  started_at: Timestamp;
  finished_at: Timestamp;
  duration_ms: number;
  status: AttemptStatus;
  http_status: number | null;
  error: string | null;
  response: unknown;
  worker: string | null;
}

export interface CallEventsTable {
  id: Generated<string>;
  call_id: string;
  at: Timestamp;
  event: string;
  status: CallStatus | null;
  attempt: number | null;
  reason: string | null;
  actor: string | null;
}

export interface RetryPoliciesTable {
  name: string;
  /** Postgres intervals come back as text, e.g. '00:05:00'. */
  delays: string[] | null;
  base: string | null;
  factor: number | null;
  cap: string | null;
  jitter: number;
  max_attempts: number;
  max_age: string | null;
  description: string | null;
  updated_at: Timestamp;
}

export interface FunctionsTable {
  name: string;
  retry_policy: string;
  max_attempts: number | null;
  updated_at: Timestamp;
}

export interface WorkersTable {
  /** graphile-worker's pool id: what this worker's jobs are `locked_by`. */
  id: string;
  host: string;
  pid: number;
  started_at: ColumnType<Date, Date | string | undefined, Date | string>;
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>;
  concurrency: number;
  functions: ColumnType<string[], string[] | undefined, string[]>;
  version: string | null;
}

export interface EndpointsTable {
  name: string;
  url: string;
  /** Signing secrets (`whsec_…`), newest first. */
  secrets: ColumnType<string[], string[] | undefined, string[]>;
  retry_policy: ColumnType<string, string | undefined, string>;
  headers: ColumnType<Record<string, string>, Record<string, string> | undefined>;
  connect_timeout_ms: number | null;
  headers_timeout_ms: number | null;
  total_timeout_ms: number | null;
  max_response_bytes: number | null;
  allow_private_networks: boolean | null;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  disabled_at: Timestamp | null;
  disabled_reason: string | null;
  failing_since: Timestamp | null;
  last_success_at: Timestamp | null;
  last_failure_at: Timestamp | null;
  /** An interval, read back as text (e.g. '5 days'). */
  disable_after: ColumnType<string, string | undefined, string>;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** Upper bound of the adaptive concurrency to this endpoint's origin (null: the instance's `perOriginConcurrency`). */
  max_concurrency: number | null;
}

/** Idempotency keys, unique per function: the call each one names. */
export interface CallKeysTable {
  function: string;
  idempotency_key: string;
  call_id: string;
}

/** The days (since 1970-01-01 UTC) whose partitions of the history tables exist. */
export interface PartitionDaysTable {
  day: number;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** Set while retention detaches and drops the day's partitions; a marked day takes no retries. */
  retiring_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** Debounce keys: the pending call of each key and when it runs. */
export interface DebouncesTable {
  function: string;
  key: string;
  call_id: string;
  run_at: Timestamp;
  dispatches: ColumnType<number, number | undefined, number>;
}

/** Flow-control keys with their concurrency and rate limits. */
export interface FlowKeysTable {
  key: string;
  concurrency_limit: number | null;
  rate_limit: number | null;
  rate_interval: string | null;
  rate_next: Timestamp | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Calls holding a concurrency slot of their key. */
export interface FlowSlotsTable {
  call_id: string;
  key: string;
  acquired_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Calls waiting for their key to let them start. */
export interface FlowWaitsTable {
  call_id: string;
  key: string;
  reason: string;
  attempt: ColumnType<number, number | undefined, number>;
  not_before: Timestamp | null;
  since: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Adaptive webhook concurrency: each origin's current limit. */
export interface OriginConcurrencyTable {
  origin: string;
  concurrency_limit: number;
  max_limit: number;
  increases: ColumnType<string, string | undefined, string>;
  decreases: ColumnType<string, string | undefined, string>;
  last_decrease_at: Timestamp | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Adaptive webhook concurrency: each change of an origin's limit. */
export interface OriginConcurrencyChangesTable {
  id: Generated<string>;
  origin: string;
  at: ColumnType<Date, Date | string | undefined, Date | string>;
  from_limit: number;
  to_limit: number;
  reason: string;
}

/** Adaptive webhook concurrency: which workers send to an origin. */
export interface OriginConcurrencyWorkersTable {
  origin: string;
  worker: string;
  seen_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Attempts counted per minute, function and endpoint, for the dashboard's stats (see docs/dashboard.md). */
export interface AttemptRollupsTable {
  minute: Timestamp;
  function: string;
  /** A webhook call's endpoint; '' for other calls. */
  endpoint: string;
  attempts: number;
  errors: number;
  duration_ms_sum: number;
  /** Attempts per bucket of `duration_buckets()`; the last bucket is open. */
  histogram: number[];
}

/** How far the stats rollup has read attempts. */
export interface RollupStateTable {
  name: string;
  last_id: ColumnType<string, string | number | undefined, string | number>;
  horizon_id: ColumnType<string, string | number | undefined, string | number>;
  horizon_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** The one row workers lock to take turns dispatching schedule ticks. */
export interface SchedulerClockTable {
  id: Generated<boolean>;
  ran_at: Timestamp | null;
}

/** Cron schedules: one call per tick (see docs/schedules.md). */
export interface SchedulesTable {
  name: string;
  function: string;
  cron: string;
  timezone: ColumnType<string, string | undefined, string>;
  input: ColumnType<unknown, unknown | undefined, unknown>;
  options: ColumnType<unknown, unknown | undefined, unknown>;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  catch_up: ColumnType<number, number | undefined, number>;
  next_tick: Timestamp | null;
  last_tick: Timestamp | null;
  last_call_id: string | null;
  error: string | null;
  description: string | null;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** Who last enabled or disabled it from the dashboard. */
  changed_by: string | null;
}

/** Signals sent to workflows (`dispatch.signal`, `pgdispatch.signal`), kept until a `waitFor` consumes them. */
export interface SignalsTable {
  id: Generated<string>;
  key: string;
  payload: unknown;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  consumed_at: Timestamp | null;
  call_id: string | null;
  seq: number | null;
}

/** One row per workflow step: a checkpoint its replays return instead of running it again. */
export interface StepsTable {
  call_id: string;
  seq: number;
  name: string;
  kind: string;
  status: string;
  attempts: ColumnType<number, number | undefined, number>;
  output: unknown;
  error: string | null;
  started_at: ColumnType<Date, Date | string | undefined, Date | string>;
  finished_at: Timestamp | null;
  child_call_id: string | null;
  wake_at: Timestamp | null;
  signal_key: string | null;
}
/**
 * The pgdispatch schema as a Kysely database type. Its keys are unqualified:
 * query it with `db.withSchema('pgdispatch')` (or your schema's name).
 *
 * @example
 * const failed = await db
 *   .withSchema('pgdispatch')
 *   .selectFrom('calls')
 *   .select(['id', 'function', 'last_error'])
 *   .where('status', '=', 'failed')
 *   .execute();
 */
export interface PgDispatchDatabase {
  calls: CallsTable;
  attempts: AttemptsTable;
  call_events: CallEventsTable;
  call_keys: CallKeysTable;
  partition_days: PartitionDaysTable;
  retry_policies: RetryPoliciesTable;
  functions: FunctionsTable;
  workers: WorkersTable;
  endpoints: EndpointsTable;
  steps: StepsTable;
  signals: SignalsTable;
  schedules: SchedulesTable;
  scheduler_clock: SchedulerClockTable;
  debounces: DebouncesTable;
  flow_keys: FlowKeysTable;
  flow_slots: FlowSlotsTable;
  flow_waits: FlowWaitsTable;
  origin_concurrency: OriginConcurrencyTable;
  origin_concurrency_changes: OriginConcurrencyChangesTable;
  origin_concurrency_workers: OriginConcurrencyWorkersTable;
  attempt_rollups: AttemptRollupsTable;
  rollup_state: RollupStateTable;
}

/** A call as read back from the database (bigint ids are strings, as pg returns them). */
export type Call = Omit<
  Selectable<CallsTable>,
  | 'job_id'
  | 'trace_context'
  | 'parent_call_id'
  | 'workflow_version'
  | 'wake_need'
  | 'wake_steps'
  | 'wake_any'
>;

/** One finished attempt of a call. */
export type Attempt = Omit<Selectable<AttemptsTable>, 'id'>;

export interface HistoryEntry {
  call_id: string;
  at: Date;
  event: string;
  status: string | null;
  attempt: number | null;
  http_status: number | null;
  duration_ms: number | null;
  detail: string | null;
}
