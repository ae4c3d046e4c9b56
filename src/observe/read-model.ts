/**
 * What operators read: calls, a call's timeline, per-function statistics,
 * workers, retry policies. The CLI reads through here (and the dashboard
 * will), never through the tables directly.
 */
import type { HistoryEntry } from '../schema/types.js';
import { type HasRuntime, type Runtime, run, runtimeOf } from '../sql/runtime.js';

export interface CallRow {
  id: string;
  function: string;
  status: string;
  attempts: number;
  retry_policy: string;
  created_at: Date;
  next_attempt_at: Date | null;
  finished_at: Date | null;
  last_error: string | null;
}

/** A row of the call_history view, as the timeline query selects it. */
export type TimelineRow = Omit<HistoryEntry, 'call_id'>;

export interface StatsRow {
  function: string;
  counts: Record<string, number>;
  attempts: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface PolicyRow {
  name: string;
  delays_ms: number[];
  base_ms: number | null;
  factor: number | null;
  cap_ms: number | null;
  jitter: number;
  max_attempts: number;
  max_age_ms: number | null;
  description: string | null;
}

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  started_at: Date;
  heartbeat_at: Date;
  concurrency: number;
  functions: string[];
  version: string | null;
  heartbeat_age_s: number;
  locked_jobs: number;
}

/** Registered workers, oldest first, with the age of their last heartbeat. */
export function listWorkers(dispatch: HasRuntime): Promise<WorkerInfo[]> {
  const rt = runtimeOf(dispatch);
  return run<WorkerInfo>(rt, rt.queries.listWorkers, []);
}

/** The newest calls matching `filter` (see `filterParams`), at most `limit`. */
export function listCalls(
  rt: Runtime,
  filter: [string[] | null, string | null, number | null],
  limit: number,
): Promise<CallRow[]> {
  return run<CallRow>(rt, rt.queries.listCalls, [...filter, limit]);
}

export function callTimeline(rt: Runtime, callId: string): Promise<TimelineRow[]> {
  return run<TimelineRow>(rt, rt.queries.callTimeline, [callId]);
}

/** Counts by status and attempt latency percentiles per function, over `sinceMs` (or all time). */
export function callStats(rt: Runtime, sinceMs: number | undefined): Promise<StatsRow[]> {
  return run<StatsRow>(rt, rt.queries.stats, [sinceMs === undefined ? null : sinceMs / 1000]);
}

export function listPolicies(rt: Runtime): Promise<PolicyRow[]> {
  return run<PolicyRow>(rt, rt.queries.listPolicies, []);
}

/** Calls due now and not finished, across all workers, and how long the oldest has waited. */
export async function waitingCalls(rt: Runtime): Promise<{ waiting: number; oldest_s: number }> {
  return (
    await rt.pool.query<{ waiting: number; oldest_s: number }>({
      ...rt.queries.waiting,
      values: [],
    })
  ).rows[0]!;
}

/** Why a call that has not finished waits (a concurrency slot, a rate-limit start, a debounce), if it does. */
export async function callWait(
  rt: Runtime,
  callId: string,
): Promise<{ reason: string; detail: string } | undefined> {
  return (await run<{ reason: string; detail: string }>(rt, rt.queries.callWaits, [callId]))[0];
}

export interface EndpointConcurrencyRow {
  endpoint: string;
  concurrency_limit: number;
  max_limit: number;
  last_change: string | null;
}

/** Each endpoint's adaptive concurrency limit, with its bound and latest change. */
export function endpointConcurrency(rt: Runtime): Promise<EndpointConcurrencyRow[]> {
  return run<EndpointConcurrencyRow>(rt, rt.queries.endpointConcurrency, []);
}
