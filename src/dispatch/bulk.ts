/**
 * Operations on many calls at once, for the CLI and the TypeScript API:
 * bulk retry and cancel. Bulk work goes in
 * batches, one transaction each, so a million calls never hold one giant
 * transaction and a Ctrl-C loses at most the batch in flight.
 */
import { DispatchError } from '../core/errors.js';
import type { CallStatus } from '../core/outcome.js';
import { boundedText } from '../core/storable.js';
import { type HasRuntime, run, runOne, runtimeOf } from '../sql/runtime.js';

export interface CallFilter {
  /** Only calls in these statuses. */
  status?: CallStatus | readonly CallStatus[];
  /** Only calls of this function. */
  function?: string;
  /** Only calls dispatched within this many milliseconds. */
  sinceMs?: number;
}

export interface BulkProgress {
  /** Calls looked at so far. */
  done: number;
  /** Calls matching the filter when the operation started. */
  total: number;
  /** Calls actually retried or cancelled so far. */
  changed: number;
}

export interface BulkOptions extends CallFilter {
  /** Recorded in each call's history as who did it. (Default: `api`) */
  actor?: string;
  /** Recorded in each call's history as why. */
  reason?: string;
  /** Calls per transaction. (Default: 1000) */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?: (progress: BulkProgress) => void;
}

export interface BulkResult {
  /** Calls that matched the filter. */
  matched: number;
  /** Calls retried (or cancelled); the others had changed state meanwhile. */
  changed: number;
}

/**
 * Schedules again every failed or cancelled call matching the filter
 * (statuses other than failed and cancelled are skipped). Attempt numbering
 * continues; each call's history records the retry and its actor.
 *
 * @example
 * await retryCalls(dispatch, { status: 'failed', function: 'send_webhook', sinceMs: 3_600_000 });
 */
export function retryCalls(dispatch: HasRuntime, options: BulkOptions = {}): Promise<BulkResult> {
  return bulk(dispatch, 'retryBatch', ['failed', 'cancelled'], options, 'bulk retry');
}

/**
 * Cancels every pending, retrying or waiting call matching the filter (a
 * workflow's open children with it).
 *
 * @example
 * await cancelCalls(dispatch, { function: 'send_webhook', reason: 'endpoint retired' });
 */
export function cancelCalls(dispatch: HasRuntime, options: BulkOptions = {}): Promise<BulkResult> {
  return bulk(dispatch, 'cancelBatch', ['pending', 'running', 'retrying', 'waiting'], options, null);
}

async function bulk(
  dispatch: HasRuntime,
  query: 'retryBatch' | 'cancelBatch',
  allowed: readonly CallStatus[],
  options: BulkOptions,
  defaultReason: string | null,
): Promise<BulkResult> {
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new DispatchError('INVALID_OPTION', 'batchSize must be an integer >= 1');
  }
  const requested = toArray(options.status) ?? allowed;
  const statuses = requested.filter((s) => allowed.includes(s));
  const filter = filterParams({ ...options, status: statuses });
  const rt = runtimeOf(dispatch);
  const q = rt.queries;
  // The upper bound is fixed at the start: calls dispatched during the run
  // (or failing again after this run retried them) are not chased.
  const counted = await runOne<{ n: number; max_id: string }>(rt, q.countCalls, filter);
  const total = counted.n;
  const progress: BulkProgress = { done: 0, total, changed: 0 };
  if (statuses.length === 0 || total === 0) return { matched: total, changed: 0 };
  let cursor = '0';
  for (;;) {
    const params = [
      ...filter,
      cursor,
      batchSize,
      boundedText(String(options.actor ?? 'api'), 200),
      boundedText(String(options.reason ?? defaultReason), 2_000),
      counted.max_id,
    ];
    const rows = await run<{ id: string; done: boolean }>(rt, q[query], params).catch(
      // A day that retention marked after the batch's snapshot: its calls
      // are refused (INVALID_STATE); the batch again passes them over.
      (err: unknown) => {
        if (!(err instanceof DispatchError && err.code === 'INVALID_STATE')) throw err;
        return run<{ id: string; done: boolean }>(rt, q[query], params);
      },
    );
    if (rows.length === 0) break;
    progress.done += rows.length;
    progress.changed += rows.filter((r) => r.done).length;
    cursor = rows[rows.length - 1]!.id;
    options.onProgress?.({ ...progress });
    if (rows.length < batchSize) break;
  }
  return { matched: total, changed: progress.changed };
}

/** `[statuses, function, since seconds]`: the parameters of the shared call filter. */
export function filterParams(f: CallFilter): [string[] | null, string | null, number | null] {
  const statuses = toArray(f.status);
  if (f.sinceMs !== undefined && !(Number.isFinite(f.sinceMs) && f.sinceMs >= 0)) {
    throw new DispatchError('INVALID_OPTION', 'sinceMs must be a non-negative number');
  }
  return [
    statuses ? [...statuses] : null,
    f.function ?? null,
    f.sinceMs === undefined ? null : f.sinceMs / 1000,
  ];
}

function toArray<T>(v: T | readonly T[] | undefined): readonly T[] | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? (v as readonly T[]) : [v as T];
}
