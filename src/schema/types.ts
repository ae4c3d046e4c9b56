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
  /** A workflow's child: the workflow call that dispatched it. */
  parent_call_id: string | null;
  /** A workflow's code version, set by its first run. */
  workflow_version: string | null;
  /** A waiting workflow: how many awaited steps must still finish before it wakes. */
  wake_need: number | null;
}

export interface AttemptsTable {
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
/** One step of a workflow call (docs/workflows.md). */
export interface StepsTable {
  call_id: string;
  seq: number;
  name: string;
  kind: 'step' | 'tx' | 'sleep' | 'wait' | 'call' | 'now' | 'random' | 'patch';
  status: 'waiting' | 'retrying' | 'succeeded' | 'failed' | 'cancelled';
  attempts: Generated<number>;
  output: unknown;
  error: string | null;
  started_at: Generated<Timestamp>;
  finished_at: Timestamp | null;
  child_call_id: string | null;
  wake_at: Timestamp | null;
  signal_key: string | null;
}

/** A signal sent with `signal(key, payload)`, kept until a waiting step takes it. */
export interface SignalsTable {
  id: Generated<string>;
  key: string;
  payload: unknown;
  created_at: Generated<Timestamp>;
  consumed_at: Timestamp | null;
  call_id: string | null;
  seq: number | null;
}

export interface PgDispatchDatabase {
  calls: CallsTable;
  attempts: AttemptsTable;
  call_events: CallEventsTable;
  retry_policies: RetryPoliciesTable;
  functions: FunctionsTable;
  workers: WorkersTable;
  endpoints: EndpointsTable;
  steps: StepsTable;
  signals: SignalsTable;
}

/** A call as read back from the database (bigint ids are strings, as pg returns them). */
export type Call = Omit<
  Selectable<CallsTable>,
  'job_id' | 'trace_context' | 'parent_call_id' | 'workflow_version' | 'wake_need'
>;

/** One finished attempt of a call. */
export type Attempt = Selectable<AttemptsTable>;

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
