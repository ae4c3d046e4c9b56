/** Messages between the orchestrator and its child processes (over the fork IPC channel). */

export interface ReceiverStats {
  count: number;
  /** Monotonic ms (see lib.now) of the first and last request since the last reset, or null. */
  first: number | null;
  last: number | null;
}

/** `id` pairs each reply with its request. */
export type ToReceiver = { type: 'stats' | 'reset'; id: number };

export type FromChild =
  | { type: 'ready'; port?: number }
  | ({ type: 'stats'; id: number } & ReceiverStats)
  /** A latency-phase task started: its sequence number and monotonic start time. */
  | { type: 'started'; seq: number; at: number }
  /** The bare HTTP loop finished. */
  | { type: 'done'; requests: number; errors: number; ms: number };

export function isMessage(value: unknown): value is FromChild {
  return typeof value === 'object' && value !== null && 'type' in value;
}
