/**
 * Deleting finished calls in small batches, one statement each, so pruning
 * never holds a long lock: the one loop behind `pruneCalls`, `pgdispatch
 * prune` and the workers' retention.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DispatchError } from '../core/errors.js';
import { type HasRuntime, type Runtime, runOne, runtimeOf } from '../sql/runtime.js';

export interface PruneOptions {
  /** Finished calls older than this many milliseconds go. */
  olderThanMs: number;
  /** Calls deleted per statement. (Default: 1000) */
  batchSize?: number;
  /** Called after each batch with the running total. */
  onProgress?: (deleted: number) => void;
}

/**
 * Deletes finished (succeeded, failed, cancelled) calls that finished more
 * than `olderThanMs` ago, with their attempts and events, in small batches;
 * then the signals sent before then that no workflow took (or whose call is
 * gone). Returns how many calls were deleted.
 */
export function pruneCalls(dispatch: HasRuntime, options: PruneOptions): Promise<number> {
  if (!(Number.isFinite(options.olderThanMs) && options.olderThanMs >= 0)) {
    throw new DispatchError('INVALID_OPTION', 'olderThanMs must be a non-negative number');
  }
  return pruneFinished(runtimeOf(dispatch), {
    olderThanMs: options.olderThanMs,
    batchSize: options.batchSize ?? 1000,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

/** Batches until one comes back short (or `stopped()`); returns the calls deleted. */
export async function pruneFinished(
  rt: Runtime,
  o: {
    olderThanMs: number;
    batchSize: number;
    /** Only the calls of days past the window kept whole (see `prune` in functions/prune.sql). */
    keptOnly?: boolean;
    onProgress?: (deleted: number) => void;
    /** Pause between two batches, so attempts being recorded are not starved. */
    pauseMs?: number;
    stopped?: () => boolean;
  },
): Promise<number> {
  let deleted = 0;
  while (!o.stopped?.()) {
    const row = await runOne<{ deleted: number }>(rt, rt.queries.prune, [
      o.olderThanMs / 1000,
      o.batchSize,
      o.keptOnly === true,
    ]);
    deleted += row.deleted;
    o.onProgress?.(deleted);
    if (row.deleted < o.batchSize) break;
    if (o.pauseMs) await sleep(o.pauseMs);
  }
  // Then the signals of that age no workflow will take (functions/prune_signals.sql).
  while (!o.stopped?.()) {
    const row = await runOne<{ deleted: number }>(rt, rt.queries.pruneSignals, [
      o.olderThanMs / 1000,
      o.batchSize,
    ]);
    if (row.deleted < o.batchSize) break;
    if (o.pauseMs) await sleep(o.pauseMs);
  }
  return deleted;
}
