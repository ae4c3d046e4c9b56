/** The errors a workflow body can meet, each with a stable code. */
import { DispatchError } from '../core/errors.js';

/** A step (or child call) that failed for good: catch it to compensate. */
export class StepFailedError extends DispatchError {
  /** The step's name, `name#n` for its n-th occurrence. */
  readonly step: string;
  /** The child call, for a failed `ctx.call`. */
  readonly childCallId: string | undefined;

  constructor(step: string, message: string, childCallId?: string) {
    super('STEP_FAILED', `step ${step} failed: ${message}`);
    this.name = 'StepFailedError';
    this.step = step;
    this.childCallId = childCallId;
  }
}

/** The code asked for a different step than the history recorded: the call fails. */
export class NonDeterminismError extends DispatchError {
  constructor(message: string) {
    super('NON_DETERMINISTIC', message);
    this.name = 'NonDeterminismError';
  }
}

/** Too many steps, or a step output too large. */
export class WorkflowLimitError extends DispatchError {
  constructor(message: string) {
    super('WORKFLOW_LIMIT', message);
    this.name = 'WorkflowLimitError';
  }
}
