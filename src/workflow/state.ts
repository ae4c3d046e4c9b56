/** What one run of a workflow starts from: the call's history as the claim brings it, and its services. */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { AttemptSpan } from '../core/tracing.js';
import type { Queries } from '../sql/queries.js';
import type { StepKind, StepRecorder, StepStatus } from './recorder.js';
import type { WorkflowDefinition } from './types.js';

/** A step as the claim brings it (workflow_state in migrations/0013). */
export interface StoredStep {
  seq: number;
  name: string;
  kind: StepKind;
  status: StepStatus;
  attempts: number;
  output: unknown;
  error: string | null;
  wake_at: string | null;
  child: string | null;
}

export interface WorkflowState {
  version: string | null;
  /** The call's stored trace context (calls.trace_context). */
  trace?: unknown;
  /** The database's clock when the state was read. */
  now: string;
  steps: StoredStep[];
}

export type RunResult =
  | { kind: 'ok'; output: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'suspended'; blocked: number[]; needAll: boolean; reason: string }
  /** The worker stopped or the database failed under the run: nothing to record. */
  | { kind: 'abandoned'; error: unknown };

export interface RunEnv {
  def: WorkflowDefinition;
  functionName: string;
  callId: string;
  attempt: number;
  state: WorkflowState;
  recorder: StepRecorder;
  pool: pg.Pool;
  queries: Queries;
  logger: Logger;
  /** Validates a child's input as its function's dispatch would (undefined: unknown here). */
  validateChild: (fn: string, input: unknown) => unknown;
  /** The attempt's span when tracing is on: each step run gets a child span. */
  span?: AttemptSpan | undefined;
}
