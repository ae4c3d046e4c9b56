/** What the queue hands to the attempt that runs a job, and what it gets back. */

export interface ClaimedJob {
  id: string;
  task_id: number;
  payload: unknown;
  priority: number;
  /** As Postgres prints it: a Date would lose the microseconds. */
  run_at: string;
  /** A workflow's job: what its replay needs (functions/workflow_state.sql). */
  workflow?: { version: string | null; now: string; steps: unknown[] } | null;
}

/**
 * A finished attempt: `recorded` settles once its outcome is committed.
 * Undefined when the job was given back unrecorded (released, snoozed).
 */
export type Finished = { recorded: Promise<void> } | undefined;

/**
 * Runs one job; `shutdown` aborts when the grace period of a stop is over.
 * Resolves when the handler is done: the slot is free from then on, as
 * graphile-worker frees it before its batched completion commits. A
 * rejection (of it or of `recorded`) means the outcome could not be recorded
 * or the job is not a call: the queue unlocks the job to run again later.
 */
export type RunJob = (job: ClaimedJob, shutdown: AbortSignal) => Promise<Finished>;
