export {
  createDispatch,
  Dispatch,
  DispatchFunction,
  type CallContext,
  type CallOptions,
  type DispatchOptions,
  type FunctionOptions,
  type Handler,
  type ManyCallOptions,
  type PgQueryable,
  type Transaction,
} from './dispatch.js';
export type { MigrateResult } from './db/migrate.js';
export type {
  Attempt,
  Call,
  CallEventsTable,
  AttemptsTable,
  CallsTable,
  FunctionsTable,
  HistoryEntry,
  PgDispatchDatabase,
  RetryPoliciesTable,
} from './db/types.js';
export { DispatchError, ERROR_CODES, type ErrorCode } from './errors.js';
export {
  ATTEMPT_STATUSES,
  type AttemptStatus,
  CALL_STATUSES,
  type CallStatus,
  classifyError,
  isRetryable,
  OutcomeError,
  PermanentError,
  statusFromHttp,
  TemporaryError,
  ThrottledError,
} from './status.js';
export type { WorkerHandle, WorkerOptions } from './worker/runner.js';
