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

/** The pgdispatch schema as a Kysely database type. */
export interface PgDispatchDatabase {
  calls: CallsTable;
  attempts: AttemptsTable;
  call_events: CallEventsTable;
  retry_policies: RetryPoliciesTable;
  functions: FunctionsTable;
}

/** A call as read back from the database (bigint ids are strings, as pg returns them). */
export type Call = Omit<Selectable<CallsTable>, 'job_id'>;

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
