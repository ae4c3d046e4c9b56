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
  SnoozeError,
  statusFromHttp,
  TemporaryError,
  ThrottledError,
} from './status.js';
export type { WorkerHandle, WorkerOptions } from './worker/runner.js';
export { type Endpoint, Endpoints, type NewEndpoint } from './webhook/endpoints.js';
export type { WebhookInput, WebhookOptions, WebhookOutput } from './webhook/function.js';
export {
  classifyAddress,
  generateSecret,
  parseRetryAfter,
  signWebhook,
  verifyWebhook,
  WebhookSender,
  WebhookVerificationError,
} from './webhook/index.js';
export {
  type BulkOptions,
  type BulkProgress,
  type BulkResult,
  type CallFilter,
  cancelCalls,
  listWorkers,
  type PruneOptions,
  pruneCalls,
  retryCalls,
  type WorkerInfo,
} from './ops.js';
export { formatCompact, parseDuration } from './duration.js';
export type { RetentionOptions } from './worker/retention.js';
