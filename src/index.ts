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
} from './client.js';
export type { MigrateResult } from './schema/migrate.js';
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
} from './schema/types.js';
export { DispatchError, ERROR_CODES, type ErrorCode } from './core/errors.js';
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
} from './core/outcome.js';
export type { WorkerHandle, WorkerOptions } from './worker/options.js';
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
  retryCalls,
} from './dispatch/bulk.js';
export { type PruneOptions, pruneCalls } from './maintain/prune.js';
export { listWorkers, type WorkerInfo } from './observe/read-model.js';
export { formatCompact, parseDuration } from './core/duration.js';
export type { RetentionOptions } from './maintain/retention.js';
export type { SchedulerOptions } from './maintain/scheduler.js';
export type {
  ConcurrencyOption,
  FunctionFlowOptions,
  RateLimitOption,
} from './registry/flow.js';
export {
  type Schedule,
  type ScheduleChange,
  Schedules,
  type ScheduleSpec,
} from './schedule/schedules.js';
