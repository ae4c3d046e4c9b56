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
  type RegisteredFunction,
  type Transaction,
  type Validator,
} from './client.js';
export type { MigrateResult } from './schema/migrate.js';
export type {
  Attempt,
  AttemptRollupsTable,
  AttemptsTable,
  Call,
  CallEventsTable,
  CallKeysTable,
  CallsTable,
  DebouncesTable,
  EndpointsTable,
  FlowKeysTable,
  FlowSlotsTable,
  FlowWaitsTable,
  FunctionsTable,
  HistoryEntry,
  OriginConcurrencyChangesTable,
  OriginConcurrencyTable,
  OriginConcurrencyWorkersTable,
  PartitionDaysTable,
  PgDispatchDatabase,
  RetryPoliciesTable,
  RollupStateTable,
  SchedulerClockTable,
  SchedulesTable,
  SignalsTable,
  StepsTable,
  Timestamp,
  WorkersTable,
} from './schema/types.js';
export { DispatchError, ERROR_CODES, type ErrorCode } from './core/errors.js';
export {
  ATTEMPT_STATUSES,
  type AttemptStatus,
  CALL_STATUSES,
  type CallStatus,
  type Classification,
  classifyError,
  isRetryable,
  OutcomeError,
  PermanentError,
  SnoozeError,
  statusFromHttp,
  TemporaryError,
  ThrottledError,
} from './core/outcome.js';
export { PROMETHEUS_CONTENT_TYPE } from './observe/prometheus.js';
export type { WorkerHandle, WorkerOptions } from './worker/options.js';
export { type Endpoint, Endpoints, type NewEndpoint } from './webhook/endpoints.js';
export type { WebhookInput, WebhookOptions, WebhookOutput } from './webhook/function.js';
export {
  AddressGuard,
  AddressGuardOptionError,
  type AddressGuardOptions,
  type AddressKind,
  type AddressRefusedCode,
  AddressRefusedError,
  classifyAddress,
  generateSecret,
  type HeaderSource,
  parseRetryAfter,
  type ResolveFunction,
  SenderClosedError,
  type SendRequest,
  type SendResponse,
  type SendResult,
  type SendTimeouts,
  type SignInput,
  signWebhook,
  type VerifyOptions,
  verifyWebhook,
  type WebhookHeaders,
  type WebhookSecret,
  WebhookSecretError,
  WebhookSender,
  type WebhookSenderOptions,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
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
export { dropFinishedPartitions } from './maintain/retention.js';
export { listWorkers, type WorkerInfo } from './observe/read-model.js';
export type { AbortSource } from './core/abort.js';
export { formatCompact, parseDuration } from './core/duration.js';
export type { PartitionHealth, PartitionOptions } from './maintain/partitions.js';
export type { RetentionOptions } from './maintain/retention.js';
export type { RollupOptions } from './maintain/rollup.js';
export type {
  CallTarget,
  ChildOptions,
  StepContext,
  StepOptions,
  WaitOptions,
  WorkflowContext,
  WorkflowHandler,
  WorkflowOptions,
} from './workflow/types.js';
export { NonDeterminismError, StepFailedError, WorkflowLimitError } from './workflow/errors.js';
export {
  type FinishedCall,
  runWorkflow,
  type RunWorkflowOptions,
  type WorkflowRunReport,
} from './workflow/testing.js';
export {
  type Authorization,
  createDashboard,
  type Dashboard,
  type DashboardAction,
  type DashboardOptions,
} from './dashboard/index.js';
export type { SchedulerOptions } from './maintain/scheduler.js';
export type {
  ConcurrencyOption,
  FunctionFlowOptions,
  KeyedBy,
  RateLimitOption,
} from './registry/flow.js';
export {
  type Schedule,
  type ScheduleChange,
  Schedules,
  type ScheduleSpec,
} from './schedule/schedules.js';
