/** What one run of a workflow starts from: the call's history as the claim brings it, and its services. */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { AttemptSpan } from '../core/tracing.js';
import type { Queries } from '../sql/queries.js';
import type { StepKind, StepRecorder, StepStatus } from './recorder.js';
import type { WorkflowDefinition } from './types.js';

/** A step of the call's history, as the replay reads it. */
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

/** A step as functions/workflow_state.sql ships it: one array, in this order. */
type StepTuple = [
  seq: number,
  name: string,
  kind: StepKind,
  status: StepStatus,
  attempts: number,
  output: unknown,
  error: string | null,
  wake_at: string | null,
  child: string | null,
];

/** What the claim (or a workflow_state query) brings: steps as arrays. */
export interface ShippedState extends Omit<WorkflowState, 'steps'> {
  steps: StepTuple[];
}

/** The call's history from what workflow_state shipped, each step at its seq. */
export function readState(shipped: ShippedState): WorkflowState {
  const steps: StoredStep[] = [];
  for (const [seq, name, kind, status, attempts, output, error, wake_at, child] of shipped.steps) {
    steps[seq] = { seq, name, kind, status, attempts, output, error, wake_at, child };
  }
  return { version: shipped.version, trace: shipped.trace, now: shipped.now, steps };
}

export type RunResult =
  | { kind: 'ok'; output: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'suspended'; blocked: number[]; needAll: boolean; needAny: boolean; reason: string }
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
