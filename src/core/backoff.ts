/** Waiting out an unreachable database. */
import { isConnectionError } from './errors.js';

/** How long to wait before the n-th retry (from 0) against an unreachable database: 100 ms doubling to 5 s. */
export function reconnectDelayMs(retry: number): number {
  return Math.min(100 * 2 ** retry, 5_000);
}

/**
 * Runs `attempt` until it succeeds, retrying with backoff (reconnectDelayMs)
 * while the database is unreachable, until `deadline` (epoch ms). Any other
 * error, or one past the deadline, is thrown.
 */
export async function retryWhileUnreachable<T>(
  attempt: () => Promise<T>,
  deadline: number,
  onRetry: (err: Error, retryInMs: number) => void,
): Promise<T> {
  for (let retry = 0; ; retry++) {
    const delay = reconnectDelayMs(retry);
    try {
      return await attempt();
    } catch (err) {
      if (!isConnectionError(err) || Date.now() + delay > deadline) throw err;
      onRetry(err as Error, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
